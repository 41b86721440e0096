package langpack

import (
	"cmp"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// ParseVersion parses "1.4.0" or "v1.4.0": three decimal numbers without
// leading zeros (semver.org's core version; no pre-release or build).
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH, e.g. 1.4.0", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p != strconv.Itoa(v) {
			return Version{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH, e.g. 1.4.0", s)
		}
		n[i] = v
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2]}, nil
}

// Compare orders versions by semver precedence: -1, 0 or +1.
func (v Version) Compare(w Version) int {
	return cmp.Or(cmp.Compare(v.Major, w.Major), cmp.Compare(v.Minor, w.Minor), cmp.Compare(v.Patch, w.Patch))
}

// GoModuleMajor splits a module path asked of the module proxy into the
// langpack's base path and the major version it names: "…/web/v2" is base
// "…/web" at major 2; a path without a /vN suffix (N ≥ 2) is majors 0 and 1,
// returned as 1.
func GoModuleMajor(modulePath string) (base string, major int) {
	prefix, suffix, ok := strings.Cut(path.Base(modulePath), "v")
	if ok && prefix == "" {
		if n, err := strconv.Atoi(suffix); err == nil && n >= 2 && suffix == strconv.Itoa(n) {
			return path.Dir(modulePath), n
		}
	}
	return modulePath, 1
}
