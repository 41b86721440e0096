package langpack

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// src/ at the root of the zip. Equal input gives equal bytes.
func BuildComposerDist(names Names, files []File) (*ComposerDist, error) {
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

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
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
	sum := sha1.Sum(buf.Bytes())
	return &ComposerDist{Data: buf.Bytes(), Shasum: hex.EncodeToString(sum[:]), Package: pkg}, nil
}
