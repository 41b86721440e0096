//go:build !linux

package postgres

import "syscall"

// childProcAttr starts server binaries in their own process group.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
