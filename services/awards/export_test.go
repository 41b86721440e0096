package awards

// The writer protocol, for tests that play a writer by hand.
const (
	SQLProgressBarrierShared = sqlProgressBarrierShared
	LockClassProgress        = lockClassProgress
)

// LogPartition names the processing log partition of a month.
var LogPartition = logPartition
