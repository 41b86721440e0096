package awards

// The writer protocol, for tests that play a writer by hand.
const (
	SQLProgressBarrierShared = sqlXactLockShared
	LockClassProgress        = lockClassProgress
)

// LogPartition names the processing log partition of a month.
var LogPartition = logPartition

// DecodeLogPageToken decodes a page token of the admin processing log.
func DecodeLogPageToken(token string) (LogPage, error) {
	var p LogPage
	err := decodeToken(token, &p)
	return p, err
}

// IdentifierProblem and JSONProblem are the edge checks of outside text.
var (
	IdentifierProblem = identifierProblem
	JSONProblem       = jsonProblem
)

// SetHooks makes the store call afterHorizon when an achievements cycle has
// read its horizon and beforeCommit before a batch of events commits.
func (s *PostgresStore) SetHooks(afterHorizon, beforeCommit func()) {
	s.hooks = storeHooks{afterHorizon: afterHorizon, beforeCommit: beforeCommit}
}
