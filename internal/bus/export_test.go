package bus

// ShutdownServer stops the embedded server under a live connection, as a crash would.
func ShutdownServer(b *Bus) {
	b.server.Shutdown()
	b.server.WaitForShutdown()
}
