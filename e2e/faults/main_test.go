package faults_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/clickstream-dev/clickstream/e2e/harness"
)

// binary is the clickstream binary TestMain builds for the whole package.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips itself
	}
	built, remove, err := harness.BuildClickstream()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = built
	code := m.Run()
	remove()
	os.Exit(code)
}
