package postgres

import "syscall"

// childProcAttr starts server binaries in their own process group, and has the kernel send
// the server a fast-shutdown signal if this process dies without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
}
