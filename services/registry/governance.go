package registry

// GovernanceStore keeps owners, lifecycle and the audit of metadata changes.
type GovernanceStore interface{}
