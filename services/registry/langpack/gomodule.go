package langpack

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// GoModulePath is the module path of a Go langpack at a major version:
// Go's import compatibility rule puts major 2 and above into the path
// ("langpack.clickstream.dev/web/v2"); majors 0 and 1 have none.
func GoModulePath(base string, major int) string {
	if major < 2 {
		return base
	}
	return fmt.Sprintf("%s/v%d", base, major)
}

// GoVersion is the Go module version of v: "v1.4.0".
func GoVersion(v Version) string { return "v" + v.String() }

// GoModuleVersion is the Go module version of langpack version n: "v1.N.0".
func GoModuleVersion(n int) string { return fmt.Sprintf("v1.%d.0", n) }

// ParseGoModuleVersion returns N of a module version "v1.N.0", or false.
func ParseGoModuleVersion(v string) (int, bool) {
	var n int
	if _, err := fmt.Sscanf(v, "v1.%d.0", &n); err != nil || n < 1 || GoModuleVersion(n) != v {
		return 0, false
	}
	return n, true
}

// GoModFile returns the go.mod of a Go langpack: the pack's own when it has
// one at its root (it must declare modulePath), else a minimal one.
func GoModFile(modulePath string, files []File) ([]byte, error) {
	for _, f := range files {
		if f.Path != "go.mod" {
			continue
		}
		mf, err := modfile.ParseLax("go.mod", f.Data, nil)
		if err != nil {
			return nil, fmt.Errorf("go.mod of the Go langpack: %w", err)
		}
		if mf.Module == nil || mf.Module.Mod.Path != modulePath {
			return nil, fmt.Errorf("go.mod of the Go langpack declares module %q, want %q", moduleDeclared(mf), modulePath)
		}
		return f.Data, nil
	}
	return []byte("module " + modulePath + "\n"), nil
}

func moduleDeclared(mf *modfile.File) string {
	if mf.Module == nil {
		return ""
	}
	return mf.Module.Mod.Path
}

// GoModuleZip returns the module zip of a Go langpack as a module proxy
// serves it (golang.org/x/mod/zip rules: every file under
// "<module>@<version>/", go.mod at the root). Equal files give equal bytes.
func GoModuleZip(modulePath string, n int, files []File) ([]byte, error) {
	mod := module.Version{Path: modulePath, Version: GoModuleVersion(n)}
	gomod, err := GoModFile(modulePath, files)
	if err != nil {
		return nil, err
	}
	zfiles := []modzip.File{moduleFile{path: "go.mod", data: gomod}}
	for _, f := range files {
		if f.Path == "go.mod" || strings.HasPrefix(path.Base(f.Path), ".") {
			continue
		}
		zfiles = append(zfiles, moduleFile{path: f.Path, data: f.Data})
	}
	var buf bytes.Buffer
	if err := modzip.Create(&buf, mod, zfiles); err != nil {
		return nil, fmt.Errorf("zip module %s: %w", mod, err)
	}
	return buf.Bytes(), nil
}

// moduleFile is one file of a module zip, in memory.
type moduleFile struct {
	path string
	data []byte
}

func (f moduleFile) Path() string { return f.path }

func (f moduleFile) Lstat() (os.FileInfo, error) { return moduleFileInfo(f), nil }

func (f moduleFile) Open() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

// moduleFileInfo describes a moduleFile as a regular, read-only file.
type moduleFileInfo moduleFile

func (i moduleFileInfo) Name() string       { return path.Base(i.path) }
func (i moduleFileInfo) Size() int64        { return int64(len(i.data)) }
func (i moduleFileInfo) Mode() os.FileMode  { return 0o444 }
func (i moduleFileInfo) ModTime() time.Time { return time.Time{} }
func (i moduleFileInfo) IsDir() bool        { return false }
func (i moduleFileInfo) Sys() any           { return nil }
