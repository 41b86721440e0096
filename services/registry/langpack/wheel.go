package langpack

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// zipTime is the modification time of every file in the zips built here,
// so equal files give equal bytes (zip cannot store times before 1980).
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// addZipFile adds a deflated file modified at zipTime to a zip built here.
func addZipFile(zw *zip.Writer, name string, data []byte) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime})
	if err == nil {
		_, err = w.Write(data)
	}
	return err
}

// Wheel is a pure-Python wheel (PEP 427) of a Python langpack.
type Wheel struct {
	// Filename is "<dist>-<version>-py3-none-any.whl" with the dist name's
	// dashes as underscores.
	Filename string
	Data     []byte
	// RequiresPython is the wheel's Requires-Python, e.g. ">=3.9".
	RequiresPython string
}

// WheelFilename is the file name of a langpack's wheel.
func WheelFilename(names Names, packageVersion string) string {
	return wheelDistName(names) + "-" + packageVersion + "-py3-none-any.whl"
}

// wheelDistName is the distribution name as wheel file names spell it.
func wheelDistName(names Names) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(names.PythonDist)
}

// BuildWheel builds the wheel of a Python langpack of version packageVersion
// ("1.N.0") from its files: the import package (the files under
// names.PythonPackage/) plus METADATA, WHEEL and RECORD in the dist-info
// directory. Equal input gives equal bytes.
func BuildWheel(names Names, packageVersion, summary string, files []File) (*Wheel, error) {
	if names.PythonDist == "" || names.PythonPackage == "" {
		return nil, fmt.Errorf("build wheel: the Python names of the langpack are empty")
	}
	prefix := names.PythonPackage + "/"
	distInfo := wheelDistName(names) + "-" + packageVersion + ".dist-info/"
	var (
		buf    bytes.Buffer
		record strings.Builder
	)
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) error {
		if err := addZipFile(zw, name, data); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(data))
		return nil
	}
	n := 0
	for _, f := range files {
		if !strings.HasPrefix(f.Path, prefix) {
			continue
		}
		if err := add(f.Path, f.Data); err != nil {
			return nil, fmt.Errorf("build wheel: %w", err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("build wheel: the langpack has no files under %s", prefix)
	}
	readme, requiresPython := "", ">=3.9"
	for _, f := range files {
		switch f.Path {
		case "README.md":
			readme = "Description-Content-Type: text/markdown\n\n" + string(f.Data)
		case "pyproject.toml":
			if m := pyprojectRequiresPython.FindSubmatch(f.Data); m != nil {
				requiresPython = string(m[1])
			}
		}
	}
	metadata := fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nRequires-Python: %s\n%s",
		names.PythonDist, packageVersion, oneLine(summary), requiresPython, readme)
	wheel := "Wheel-Version: 1.0\nGenerator: " + GeneratorVersion + "\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
	if err := add(distInfo+"METADATA", []byte(metadata)); err != nil {
		return nil, fmt.Errorf("build wheel: %w", err)
	}
	if err := add(distInfo+"WHEEL", []byte(wheel)); err != nil {
		return nil, fmt.Errorf("build wheel: %w", err)
	}
	record.WriteString(distInfo + "RECORD,,\n")
	err := addZipFile(zw, distInfo+"RECORD", []byte(record.String()))
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("build wheel: %w", err)
	}
	return &Wheel{Filename: WheelFilename(names, packageVersion), Data: buf.Bytes(), RequiresPython: requiresPython}, nil
}

// pyprojectRequiresPython finds requires-python in a pyproject.toml.
var pyprojectRequiresPython = regexp.MustCompile(`(?m)^requires-python\s*=\s*"([^"]*)"`)

// oneLine keeps a header value on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
