package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// maxLangpackRequest bounds the JSON body of a langpack download.
const maxLangpackRequest = 64 << 10

// mountLangpacks mounts langpack delivery: /langpack/ (tar.gz downloads),
// and the native package indexes /goproxy/ (a Go module proxy),
// /pypi/simple/ (a PEP 503 index of wheels), /composer/ (a Composer
// repository) and /maven/ (a Maven repository of the Java langpacks: jars
// of classes, sources jars and POMs). Swift and C# langpacks are tar.gz downloads only.
func mountLangpacks(mux *http.ServeMux, svc *Service) {
	h := langpackHTTP{svc: svc, jars: newMavenJars()}
	mux.HandleFunc("POST /langpack/{lang}/{version}/", h.download)
	mux.HandleFunc("POST /langpack/{lang}/{version}", h.download)
	mux.HandleFunc("GET /goproxy/", h.goproxy)
	mux.HandleFunc("GET /pypi/simple/{$}", h.pypiIndex)
	mux.HandleFunc("GET /pypi/simple/{dist}/{$}", h.pypiProject)
	mux.HandleFunc("GET /pypi/files/{env}/{file}", h.pypiFile)
	mux.HandleFunc("GET /composer/packages.json", h.composerPackages)
	mux.HandleFunc("GET /composer/dist/{env}/{file}", h.composerDist)
	mux.HandleFunc("GET /maven/", h.maven)
}

// langpackHTTP serves langpacks over plain HTTP.
type langpackHTTP struct {
	svc  *Service
	jars *mavenJars // the Java langpacks' compiled jars (langpack_maven.go)
}

// fail answers err as plain text: 400 or 404 with the message for a request
// the caller must fix, 500 otherwise.
func (h langpackHTTP) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *langpackRequestError
	switch {
	case errors.As(err, &re) && errors.Is(re.kind, ErrInvalid):
		http.Error(w, re.msg, http.StatusBadRequest)
	case errors.As(err, &re):
		http.Error(w, re.msg, http.StatusNotFound)
	case errors.Is(err, ErrInvalid):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, context.Canceled):
		http.Error(w, "request canceled", http.StatusServiceUnavailable)
	default:
		// The cause is logged; storage errors are not for the caller.
		slog.ErrorContext(r.Context(), "langpack request failed", "path", r.URL.Path, "err", err)
		http.Error(w, "the langpack could not be served: the registry could not read its catalogue; try again, and if it persists the registry's log says why",
			http.StatusInternalServerError)
	}
}

func notFound(format string, args ...any) error {
	return &langpackRequestError{kind: ErrNotFound, msg: fmt.Sprintf(format, args...)}
}

// download serves POST /langpack/{lang}/{version}/ with {"environment": …}:
// the langpack's tar.gz.
func (h langpackHTTP) download(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Environment string `json:"environment"`
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLangpackRequest))
	if err == nil {
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		http.Error(w, fmt.Sprintf(`the body must be JSON naming the environment, e.g. {"environment":"web"}: %v`, err), http.StatusBadRequest)
		return
	}
	l, err := h.svc.langpack(r.Context(), r.PathValue("lang"), strings.TrimSpace(body.Environment), r.PathValue("version"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-%s.tar.gz"`, l.Language, l.Environment, l.PackageVersion()))
	w.Header().Set("Clickstream-Langpack-Version", strconv.Itoa(l.Version))
	w.Write(l.Archive)
}

// langpackFiles unpacks a stored archive into its files, without the
// top-level directory.
func langpackFiles(l Langpack) ([]langpack.File, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.Archive))
	if err != nil {
		return nil, fmt.Errorf("read %s langpack %d of %q: %w", l.Language, l.Version, l.Environment, err)
	}
	tr := tar.NewReader(zr)
	var files []langpack.File
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s langpack %d of %q: %w", l.Language, l.Version, l.Environment, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		_, rel, ok := strings.Cut(strings.TrimPrefix(hdr.Name, "./"), "/")
		if !ok || rel == "" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s langpack %d of %q: %w", l.Language, l.Version, l.Environment, err)
		}
		files = append(files, langpack.File{Path: rel, Data: data})
	}
}

// packageVersions makes sure the environment's current catalogue has a
// langpack version, then lists every stored version, oldest first. An
// environment that may send nothing lists what was generated before.
func (h langpackHTTP) packageVersions(ctx context.Context, lang langpack.Language, env string) ([]Langpack, error) {
	if _, err := h.svc.ensureLangpack(ctx, lang, env); err != nil {
		var re *langpackRequestError
		if !errors.As(err, &re) {
			return nil, err
		}
	}
	return h.svc.store.ListLangpacks(ctx, string(lang), env)
}

// environmentWhere finds the environment whose langpack names match.
func (h langpackHTTP) environmentWhere(ctx context.Context, match func(langpack.Names) bool) (string, bool, error) {
	envs, err := h.svc.store.ListEnvironments(ctx)
	if err != nil {
		return "", false, err
	}
	for _, e := range envs {
		if match(langpack.NamesFor(e.Name)) {
			return e.Name, true, nil
		}
	}
	return "", false, nil
}

// goproxy serves the Go module proxy protocol for the Go langpacks:
// <module>/@v/list, @v/<version>.info|.mod|.zip and <module>/@latest.
func (h langpackHTTP) goproxy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	modulePath, query, err := parseGoproxyPath(strings.TrimPrefix(r.URL.Path, "/goproxy/"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	env, ok, err := h.environmentWhere(ctx, func(n langpack.Names) bool { return n.GoModule == modulePath })
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		http.Error(w, fmt.Sprintf("not found: %s is not the module of an environment's langpack (%s)",
			modulePath, langpack.NamesFor("<environment>").GoModule), http.StatusNotFound)
		return
	}

	if query == "list" || query == "@latest" {
		versions, err := h.packageVersions(ctx, langpack.Go, env)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if query == "list" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for _, l := range versions {
				fmt.Fprintln(w, langpack.GoModuleVersion(l.Version))
			}
			return
		}
		if len(versions) == 0 {
			http.Error(w, fmt.Sprintf("not found: %s has no version: environment %q may send no event", modulePath, env), http.StatusNotFound)
			return
		}
		writeGoInfo(w, versions[len(versions)-1])
		return
	}

	ext := path.Ext(query)
	n, ok := langpack.ParseGoModuleVersion(strings.TrimSuffix(query, ext))
	if !ok {
		http.Error(w, fmt.Sprintf("not found: %s@%s: langpack versions are v1.N.0", modulePath, strings.TrimSuffix(query, ext)), http.StatusNotFound)
		return
	}
	l, err := h.svc.store.Langpack(ctx, string(langpack.Go), env, n)
	if errors.Is(err, ErrNotFound) {
		// `go get module@v1.N.0` asks for the version without listing
		// first: the current catalogue's version may just not exist yet.
		if _, err := h.packageVersions(ctx, langpack.Go, env); err != nil {
			h.fail(w, r, err)
			return
		}
		l, err = h.svc.store.Langpack(ctx, string(langpack.Go), env, n)
	}
	if errors.Is(err, ErrNotFound) {
		http.Error(w, fmt.Sprintf("not found: %s@%s: no such langpack version; list them at @v/list", modulePath, langpack.GoModuleVersion(n)), http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch ext {
	case ".info":
		writeGoInfo(w, l)
	case ".mod", ".zip":
		files, err := langpackFiles(l)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		var data []byte
		if ext == ".mod" {
			data, err = langpack.GoModFile(modulePath, files)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		} else {
			data, err = langpack.GoModuleZip(modulePath, n, files)
			w.Header().Set("Content-Type", "application/zip")
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		w.Write(data)
	default:
		http.Error(w, fmt.Sprintf("not found: %s: use .info, .mod or .zip", query), http.StatusNotFound)
	}
}

// parseGoproxyPath splits a module proxy request (the path after
// /goproxy/) into the module path and the query: "list", "@latest" or
// "<version>.info|.mod|.zip". A path that is no name is ErrInvalid, one
// that is no proxy request ErrNotFound (the go command reads 404 as "no
// such module").
func parseGoproxyPath(rest string) (modulePath, query string, err error) {
	if err := checkName("module path", rest); err != nil {
		return "", "", invalidLangpackRequest(err)
	}
	escaped, query, ok := strings.Cut(rest, "/@v/")
	if !ok {
		escaped, ok = strings.CutSuffix(rest, "/@latest")
		query = "@latest"
	}
	if !ok || query == "" {
		return "", "", notFound("%s is not a module proxy request: use <module>/@v/list, <module>/@v/<version>.info|.mod|.zip or <module>/@latest", rest)
	}
	modulePath, err = module.UnescapePath(escaped)
	if err != nil {
		return "", "", notFound("module path %q: %v", escaped, err)
	}
	return modulePath, query, nil
}

func writeGoInfo(w http.ResponseWriter, l Langpack) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Version string
		Time    time.Time
	}{langpack.GoModuleVersion(l.Version), l.CreatedAt.UTC()})
}

// pep503Separators are what PEP 503 normalises to "-".
var pep503Separators = regexp.MustCompile(`[-_.]+`)

func normalizeDist(name string) string {
	return pep503Separators.ReplaceAllString(strings.ToLower(name), "-")
}

// pypiIndex serves /pypi/simple/: one project per environment.
func (h langpackHTTP) pypiIndex(w http.ResponseWriter, r *http.Request) {
	envs, err := h.svc.store.ListEnvironments(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Clickstream langpacks</title></head><body>\n")
	for _, e := range envs {
		dist := normalizeDist(langpack.NamesFor(e.Name).PythonDist)
		fmt.Fprintf(w, "<a href=\"%s/\">%s</a><br>\n", html.EscapeString(dist), html.EscapeString(dist))
	}
	fmt.Fprint(w, "</body></html>\n")
}

// pythonEnvironment finds the environment of a PEP 503 project name.
func (h langpackHTTP) pythonEnvironment(ctx context.Context, dist string) (string, error) {
	if err := checkName("project", dist); err != nil {
		return "", invalidLangpackRequest(err)
	}
	env, ok, err := h.environmentWhere(ctx, func(n langpack.Names) bool { return normalizeDist(n.PythonDist) == normalizeDist(dist) })
	if err != nil {
		return "", err
	}
	if !ok {
		return "", notFound("no langpack is named %q: the Python langpack of environment <env> is %s; see /pypi/simple/",
			dist, langpack.NamesFor("<env>").PythonDist)
	}
	return env, nil
}

// pypiProject serves /pypi/simple/<dist>/: a link to the wheel of every
// version, with its sha256.
func (h langpackHTTP) pypiProject(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	env, err := h.pythonEnvironment(ctx, r.PathValue("dist"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	versions, err := h.packageVersions(ctx, langpack.Python, env)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	names := langpack.NamesFor(env)
	var page strings.Builder
	fmt.Fprintf(&page, "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for %s</title></head><body>\n<h1>Links for %s</h1>\n",
		html.EscapeString(names.PythonDist), html.EscapeString(names.PythonDist))
	for _, info := range versions {
		l, err := h.svc.store.Langpack(ctx, string(langpack.Python), env, info.Version)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		wheel, err := h.wheel(l)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		fmt.Fprintf(&page, "<a href=\"../../files/%s/%s#sha256=%x\" data-requires-python=\"%s\">%s</a><br>\n",
			html.EscapeString(env), html.EscapeString(wheel.Filename), sha256Sum(wheel.Data), html.EscapeString(wheel.RequiresPython), html.EscapeString(wheel.Filename))
	}
	page.WriteString("</body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, page.String())
}

// wheel builds the wheel of a stored Python langpack version.
func (h langpackHTTP) wheel(l Langpack) (*langpack.Wheel, error) {
	files, err := langpackFiles(l)
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("Clickstream langpack of environment %s: typed events and a sender (catalogue revision %d)", l.Environment, l.Revision)
	return langpack.BuildWheel(langpack.NamesFor(l.Environment), l.PackageVersion(), summary, files)
}

// pypiFile serves a wheel: /pypi/files/<env>/<dist>-1.N.0-py3-none-any.whl.
func (h langpackHTTP) pypiFile(w http.ResponseWriter, r *http.Request) {
	env, file := r.PathValue("env"), r.PathValue("file")
	l, err := h.storedByFile(r.Context(), langpack.Python, env, file, func(v string) string {
		return langpack.WheelFilename(langpack.NamesFor(env), v)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	wheel, err := h.wheel(l)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Write(wheel.Data)
}

// storedByFile finds the stored version whose file name (as filename
// spells it for a package version) is file.
func (h langpackHTTP) storedByFile(ctx context.Context, lang langpack.Language, env, file string, filename func(packageVersion string) string) (Langpack, error) {
	for _, p := range [][2]string{{"environment", env}, {"file", file}} {
		if err := checkName(p[0], p[1]); err != nil {
			return Langpack{}, invalidLangpackRequest(err)
		}
	}
	list, err := h.svc.store.ListLangpacks(ctx, string(lang), env)
	if err != nil {
		return Langpack{}, err
	}
	for _, l := range list {
		if filename(l.PackageVersion()) == file {
			return h.svc.store.Langpack(ctx, string(lang), env, l.Version)
		}
	}
	return Langpack{}, notFound("%s: no such %s langpack file for environment %q (%d versions stored)", file, lang, env, len(list))
}

// composerPackages serves /composer/packages.json: every environment's PHP
// langpack versions with their dist zips.
func (h langpackHTTP) composerPackages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	envs, err := h.svc.store.ListEnvironments(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	base := baseURL(r)
	packages := map[string]map[string]any{}
	for _, e := range envs {
		versions, err := h.packageVersions(ctx, langpack.PHP, e.Name)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		names := langpack.NamesFor(e.Name)
		for _, info := range versions {
			l, err := h.svc.store.Langpack(ctx, string(langpack.PHP), e.Name, info.Version)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			dist, err := composerDist(l)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			pkg := dist.Package
			pkg["version"] = l.PackageVersion()
			pkg["version_normalized"] = l.PackageVersion() + ".0"
			pkg["time"] = l.CreatedAt.UTC().Format(time.RFC3339)
			pkg["dist"] = map[string]string{
				"type":   "zip",
				"url":    fmt.Sprintf("%s/composer/dist/%s/%s", base, e.Name, composerDistFile(l.PackageVersion())),
				"shasum": dist.Shasum,
			}
			if packages[names.ComposerName] == nil {
				packages[names.ComposerName] = map[string]any{}
			}
			packages[names.ComposerName][l.PackageVersion()] = pkg
		}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(map[string]any{"packages": packages})
}

func composerDistFile(packageVersion string) string { return packageVersion + ".zip" }

func composerDist(l Langpack) (*langpack.ComposerDist, error) {
	files, err := langpackFiles(l)
	if err != nil {
		return nil, err
	}
	return langpack.BuildComposerDist(langpack.NamesFor(l.Environment), files)
}

// composerDist serves /composer/dist/<env>/<1.N.0>.zip.
func (h langpackHTTP) composerDist(w http.ResponseWriter, r *http.Request) {
	l, err := h.storedByFile(r.Context(), langpack.PHP, r.PathValue("env"), r.PathValue("file"), composerDistFile)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	dist, err := composerDist(l)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Write(dist.Data)
}

// baseURL is the registry's URL as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func sha256Sum(data []byte) [32]byte { return sha256.Sum256(data) }

// maven serves a Maven repository layout for the Java langpacks:
// /maven/<group path>/<artifact>/maven-metadata.xml and
// /maven/<group path>/<artifact>/<1.N.0>/<artifact>-<1.N.0>.pom|.jar|-sources.jar,
// each also with .sha1, .md5, .sha256 and .sha512. The jar holds classes
// compiled by the host's JDK, the -sources.jar the sources (mavenFile).
func (h langpackHTTP) maven(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rest := strings.TrimPrefix(r.URL.Path, "/maven/")
	if err := checkName("path", rest); err != nil {
		h.fail(w, r, invalidLangpackRequest(err))
		return
	}
	group := langpack.MavenGroupPath(langpack.NamesFor("web"))
	rest, ok := strings.CutPrefix(rest, group+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 2 || len(parts) > 3 {
		http.Error(w, fmt.Sprintf("not found: %s: the Java langpacks are %s/<artifact>/maven-metadata.xml and %s/<artifact>/<version>/<artifact>-<version>.jar|.pom",
			r.URL.Path, group, group), http.StatusNotFound)
		return
	}
	artifact := parts[0]
	env, ok, err := h.environmentWhere(ctx, func(n langpack.Names) bool { return n.MavenArtifact == artifact })
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		http.Error(w, fmt.Sprintf("not found: %s is not the artifact of an environment's Java langpack (%s)",
			artifact, langpack.NamesFor("<environment>").MavenArtifact), http.StatusNotFound)
		return
	}
	names := langpack.NamesFor(env)
	file := parts[len(parts)-1]
	base, digest := mavenDigest(file)

	var data []byte
	var contentType string
	if len(parts) == 2 {
		if base != "maven-metadata.xml" {
			http.Error(w, fmt.Sprintf("not found: %s: use maven-metadata.xml or <version>/", r.URL.Path), http.StatusNotFound)
			return
		}
		versions, err := h.packageVersions(ctx, langpack.Java, env)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		var list []string
		var updated time.Time
		for _, l := range versions {
			list = append(list, l.PackageVersion())
			updated = l.CreatedAt
		}
		data, contentType = langpack.MavenMetadata(names, list, updated), "application/xml"
	} else {
		version := parts[1]
		filename := func(v string) string {
			if v != version {
				return ""
			}
			switch base {
			case langpack.MavenFile(names, v, ".pom"), langpack.MavenFile(names, v, ".jar"), langpack.MavenFile(names, v, "-sources.jar"):
				return base
			}
			return ""
		}
		l, err := h.storedByFile(ctx, langpack.Java, env, base, filename)
		if errors.Is(err, ErrNotFound) {
			// A build may ask for the version of the current catalogue
			// before reading the metadata: it may just not exist yet.
			if _, err := h.packageVersions(ctx, langpack.Java, env); err != nil {
				h.fail(w, r, err)
				return
			}
			l, err = h.storedByFile(ctx, langpack.Java, env, base, filename)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		var ok bool
		if data, contentType, ok = h.mavenFile(w, r, l, names, base); !ok {
			return
		}
	}
	if digest != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, digest(data))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(data)
}

// mavenDigest splits a checksum request ("x.jar.sha1") into the file it is
// of and the digest in hex; digest is nil for the file itself.
func mavenDigest(file string) (string, func([]byte) string) {
	for ext, sum := range map[string]func([]byte) string{
		".sha1":   func(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) },
		".md5":    func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) },
		".sha256": func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) },
		".sha512": func(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) },
	} {
		if base, ok := strings.CutSuffix(file, ext); ok {
			return base, sum
		}
	}
	return file, nil
}
