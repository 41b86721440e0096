package langpack

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// ComposerDist is the dist zip of a PHP langpack for a Composer repository.
type ComposerDist struct {
	Data []byte
	// Shasum is the SHA-1 of Data in hex, as packages.json carries it.
	Shasum string
	// Package is the composer.json of the langpack, decoded.
	Package map[string]any
}

// BuildComposerDist builds the dist zip of a PHP langpack: composer.json
// (the pack's own, or a minimal one with a PSR-4 autoload of src/) and
// src/ at the root of the zip. Equal input gives equal bytes, which stay
// the same across registry versions: a composer.lock holds their SHA-1.
func BuildComposerDist(names Names, files []File) (*ComposerDist, error) {
	size := 0
	for _, f := range files {
		size += len(f.Data)
	}
	var buf bytes.Buffer
	buf.Grow(size/3 + 4096) // PHP source deflates to about a quarter
	h := sha1.New()
	pkg, err := writeComposerDist(io.MultiWriter(&buf, h), names, files)
	if err != nil {
		return nil, err
	}
	return &ComposerDist{Data: buf.Bytes(), Shasum: hex.EncodeToString(h.Sum(nil)), Package: pkg}, nil
}

// ComposerDistSum is what packages.json needs of a dist, without keeping
// the zip: its SHA-1 and the decoded composer.json, equal to
// BuildComposerDist's Shasum and Package. It streams the zip through the
// hash, so a repository index of many versions holds no zip in memory.
func ComposerDistSum(names Names, files []File) (shasum string, pkg map[string]any, err error) {
	h := sha1.New()
	pkg, err = writeComposerDist(h, names, files)
	if err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(h.Sum(nil)), pkg, nil
}

// writeComposerDist writes the dist zip to w and returns its composer.json.
func writeComposerDist(w io.Writer, names Names, files []File) (map[string]any, error) {
	if names.ComposerName == "" {
		return nil, fmt.Errorf("build composer dist: the Composer name of the langpack is empty")
	}
	var composerJSON []byte
	for _, f := range files {
		if f.Path == "composer.json" {
			composerJSON = f.Data
		}
	}
	if composerJSON == nil {
		var err error
		composerJSON, err = json.MarshalIndent(map[string]any{
			"name":     names.ComposerName,
			"type":     "library",
			"require":  map[string]string{"php": ">=8.1"},
			"autoload": map[string]any{"psr-4": map[string]string{names.PHPNamespace + `\`: "src/"}},
		}, "", "    ")
		if err != nil {
			return nil, err
		}
	}
	var pkg map[string]any
	if err := json.Unmarshal(composerJSON, &pkg); err != nil {
		return nil, fmt.Errorf("build composer dist: composer.json of the PHP langpack: %w", err)
	}
	if name, _ := pkg["name"].(string); name != names.ComposerName {
		return nil, fmt.Errorf("build composer dist: composer.json names %q, want %q", name, names.ComposerName)
	}

	zw := zip.NewWriter(w)
	if err := addZipFile(zw, "composer.json", composerJSON); err != nil {
		return nil, fmt.Errorf("build composer dist: %w", err)
	}
	src := 0
	for _, f := range files {
		if f.Path == "composer.json" || !(strings.HasPrefix(f.Path, "src/") || f.Path == "README.md" || f.Path == ManifestPath) {
			continue
		}
		if err := addZipFile(zw, f.Path, f.Data); err != nil {
			return nil, fmt.Errorf("build composer dist: %w", err)
		}
		if strings.HasPrefix(f.Path, "src/") {
			src++
		}
	}
	if src == 0 {
		return nil, fmt.Errorf("build composer dist: the PHP langpack has no files under src/")
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("build composer dist: %w", err)
	}
	return pkg, nil
}
