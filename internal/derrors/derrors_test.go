package derrors_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

func TestWrap(t *testing.T) {
	op := func(fail bool) (err error) {
		defer derrors.Wrap(&err, "read event %q (version %d)", "ItemView", 2)
		if fail {
			return fs.ErrNotExist
		}
		return nil
	}
	if err := op(false); err != nil {
		t.Errorf("no failure: %v", err)
	}
	err := op(true)
	if got, want := err.Error(), `read event "ItemView" (version 2): file does not exist`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("the wrapped error is no longer found by errors.Is")
	}
}
