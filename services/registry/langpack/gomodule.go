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

// GoModuleZipAt returns the module zip of a Go langpack at version v, as a
// module proxy serves it (golang.org/x/mod/zip rules: every file under
// "<module>@<version>/", go.mod at the root). modulePath must be
// GoModulePath(base, v.Major). Equal files give equal bytes.
func GoModuleZipAt(modulePath string, v Version, files []File) ([]byte, error) {
	mod := module.Version{Path: modulePath, Version: GoVersion(v)}
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
