package awards

// The writer protocol, for tests that play a writer by hand.
const (
	SQLProgressBarrierShared = sqlProgressBarrierShared
	LockClassProgress        = lockClassProgress
)
