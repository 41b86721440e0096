package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// npm serves an npm registry of the TypeScript langpacks under /npm/:
// GET /npm/@clickstream/events-<env> (also with the slash escaped, as npm
// asks) is the package document listing every version of the line with
// its tarball, GET /npm/@clickstream/events-<env>/-/events-<env>-<version>.tgz
// the tarball (the pack's files under package/). Point npm at it with
// --registry http://<registry>/npm/ (or @clickstream:registry in .npmrc).
func (h langpackHTTP) npm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rest := strings.TrimPrefix(r.URL.Path, "/npm/")
	if err := checkName("package", rest); err != nil {
		h.fail(w, r, invalidLangpackRequest(err))
		return
	}
	name, file, isFile := strings.Cut(rest, "/-/")
	env, ok, err := h.environmentWhere(ctx, func(n langpack.Names) bool { return n.NPMPackage == name })
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		http.Error(w, fmt.Sprintf("not found: %s is not the npm package of an environment's TypeScript langpack (%s)",
			name, langpack.NamesFor("<environment>").NPMPackage), http.StatusNotFound)
		return
	}
	if isFile {
		l, err := h.versionByFile(ctx, langpack.TypeScript, env, file, func(v string) string { return npmTarballName(name, v) })
		if err != nil {
			h.fail(w, r, err)
			return
		}
		tgz, err := npmTarball(l)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(tgz)
		return
	}
	versions, err := h.packageVersions(ctx, langpack.TypeScript, env)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	base := baseURL(r)
	doc := map[string]any{"name": name}
	entries := map[string]json.RawMessage{}
	times := map[string]string{}
	for _, info := range versions {
		entry, err := h.cache.get(fmt.Sprintf("npm-version/%s/%s/%s", base, env, info.Version), func() ([]byte, error) {
			return h.npmVersion(r, base, name, env, info)
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		entries[info.PackageVersion()] = entry
		times[info.PackageVersion()] = info.CreatedAt.UTC().Format(time.RFC3339)
	}
	doc["versions"] = entries
	doc["time"] = times
	if n := len(versions); n > 0 {
		doc["dist-tags"] = map[string]string{"latest": versions[n-1].PackageVersion()}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// npmVersion is the package document's entry of one version: its
// package.json with the tarball's address and digests.
func (h langpackHTTP) npmVersion(r *http.Request, base, name, env string, info Langpack) ([]byte, error) {
	l, err := h.svc.langpackAt(r.Context(), langpack.TypeScript, env, info.Version)
	if err != nil {
		return nil, err
	}
	files, err := langpackFiles(l)
	if err != nil {
		return nil, err
	}
	manifest := map[string]any{}
	for _, f := range files {
		if f.Path == "package.json" {
			if err := json.Unmarshal(f.Data, &manifest); err != nil {
				return nil, fmt.Errorf("package.json of the TypeScript langpack %s of %q: %w", l.Version, env, err)
			}
		}
	}
	if manifest["name"] != name || manifest["version"] != l.PackageVersion() {
		return nil, fmt.Errorf("package.json of the TypeScript langpack %s of %q names %v@%v, want %s@%s",
			l.Version, env, manifest["name"], manifest["version"], name, l.PackageVersion())
	}
	tgz, err := npmTarball(l)
	if err != nil {
		return nil, err
	}
	sha := sha1.Sum(tgz)
	integrity := sha512.Sum512(tgz)
	manifest["_id"] = name + "@" + l.PackageVersion()
	manifest["dist"] = map[string]string{
		"tarball":   fmt.Sprintf("%s/npm/%s/-/%s", base, name, npmTarballName(name, l.PackageVersion())),
		"shasum":    hex.EncodeToString(sha[:]),
		"integrity": "sha512-" + base64.StdEncoding.EncodeToString(integrity[:]),
	}
	return json.Marshal(manifest)
}

// npmTarballName is the tarball of a version: "events-web-1.4.0.tgz".
func npmTarballName(name, version string) string {
	return path.Base(name) + "-" + version + ".tgz"
}

// npmTarball packs a TypeScript langpack as npm does: its files under
// package/, deterministic (sorted, a fixed time, no gzip name or time).
func npmTarball(l Langpack) ([]byte, error) {
	files, err := langpackFiles(l)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "package/" + f.Path, Mode: 0o644, Size: int64(len(f.Data)),
			ModTime: time.Date(1985, 10, 26, 8, 15, 0, 0, time.UTC), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
