package registry

// EnvironmentStore keeps environments and the event versions each may send.
type EnvironmentStore interface{}
