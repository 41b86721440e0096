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
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// maxLangpackRequest bounds the JSON body of a langpack download.
const maxLangpackRequest = 64 << 10

// mountLangpacks mounts langpack delivery: /langpack/ (tar.gz downloads),
// and the native package indexes /goproxy/ (a Go module proxy),
// /pypi/simple/ (a PEP 503 index of wheels), /composer/ (a Composer
// repository), /maven/ (a Maven repository of the Java langpacks: jars of
// classes, sources jars and POMs) and /npm/ (an npm registry of the
// TypeScript langpacks). Swift and C# langpacks are tar.gz downloads only.
// Every index lists every version of the environment's line
// (Service.langpackVersions).
func mountLangpacks(mux *http.ServeMux, svc *Service) {
	h := langpackHTTP{svc: svc, cache: newIndexCache(indexCacheBytes), jars: newMavenJars()}
	mux.HandleFunc("POST /langpack/{lang}/{version}/", h.download)
	mux.HandleFunc("POST /langpack/{lang}/{version}", h.download)
	mux.HandleFunc("GET /goproxy/", h.goproxy)
	mux.HandleFunc("GET /pypi/simple/{$}", h.pypiIndex)
	mux.HandleFunc("GET /pypi/simple/{dist}/{$}", h.pypiProject)
	mux.HandleFunc("GET /pypi/files/{env}/{file}", h.pypiFile)
	mux.HandleFunc("GET /composer/packages.json", h.composerPackages)
	mux.HandleFunc("GET /composer/dist/{env}/{file}", h.composerDist)
	mux.HandleFunc("GET /maven/", h.maven)
	mux.HandleFunc("GET /npm/", h.npm)
}

// langpackHTTP serves langpacks over plain HTTP.
type langpackHTTP struct {
	svc   *Service
	cache *indexCache
	jars  *mavenJars // the Java langpacks' compiled jars (langpack_maven.go)
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
	w.Header().Set("Clickstream-Langpack-Version", l.Version.String())
	w.Write(l.Archive)
}

// langpackFiles unpacks a stored archive into its files, without the
// top-level directory.
func langpackFiles(l Langpack) ([]langpack.File, error) {
	zr, err := gzip.NewReader(bytes.NewReader(l.Archive))
	if err != nil {
		return nil, fmt.Errorf("read %s langpack %s of %q: %w", l.Language, l.Version, l.Environment, err)
	}
	tr := tar.NewReader(zr)
	var files []langpack.File
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s langpack %s of %q: %w", l.Language, l.Version, l.Environment, err)
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
			return nil, fmt.Errorf("read %s langpack %s of %q: %w", l.Language, l.Version, l.Environment, err)
		}
		files = append(files, langpack.File{Path: rel, Data: data})
	}
}

// packageVersions lists the versions of a language's pack of env, oldest
// first (Service.langpackVersions).
func (h langpackHTTP) packageVersions(ctx context.Context, lang langpack.Language, env string) ([]Langpack, error) {
	return h.svc.langpackVersions(ctx, lang, env)
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
// Versions of major 2 and above are served under the module path with its
// /vN suffix (Go's import compatibility rule): langpack.clickstream.dev/web
// lists the 1.x versions, langpack.clickstream.dev/web/v2 the 2.x ones.
func (h langpackHTTP) goproxy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	modulePath, query, err := parseGoproxyPath(strings.TrimPrefix(r.URL.Path, "/goproxy/"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	env, major, ok, err := h.goModuleEnvironment(ctx, modulePath)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		http.Error(w, fmt.Sprintf("not found: %s is not the module of an environment's langpack (%s, or %s/vN for major versions from 2)",
			modulePath, langpack.NamesFor("<environment>").GoModule, langpack.NamesFor("<environment>").GoModule), http.StatusNotFound)
		return
	}
	all, err := h.packageVersions(ctx, langpack.Go, env)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var versions []Langpack // those of this module path's major
	for _, l := range all {
		if max(l.Version.Major, 1) == major {
			versions = append(versions, l)
		}
	}

	if major >= 2 && len(versions) == 0 {
		// The go command reads 404 as "no such module": there is no /vN
		// before a major version N exists.
		http.Error(w, fmt.Sprintf("not found: %s has no version: %s", modulePath, goMajorsHint(all, env)), http.StatusNotFound)
		return
	}
	if query == "list" || query == "@latest" {
		if query == "list" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for _, l := range versions {
				fmt.Fprintln(w, langpack.GoVersion(l.Version))
			}
			return
		}
		if len(versions) == 0 {
			http.Error(w, fmt.Sprintf("not found: %s has no version: %s", modulePath, goMajorsHint(all, env)), http.StatusNotFound)
			return
		}
		writeGoInfo(w, versions[len(versions)-1])
		return
	}

	ext := path.Ext(query)
	asked := strings.TrimSuffix(query, ext)
	v, err := langpack.ParseVersion(asked)
	i := slices.IndexFunc(versions, func(l Langpack) bool { return l.Version == v })
	if err != nil || !strings.HasPrefix(asked, "v") || i < 0 {
		http.Error(w, fmt.Sprintf("not found: %s@%s: no such langpack version; list them at %s/@v/list (%s)",
			modulePath, asked, modulePath, goMajorsHint(all, env)), http.StatusNotFound)
		return
	}
	switch ext {
	case ".info":
		writeGoInfo(w, versions[i])
	case ".mod", ".zip":
		l, err := h.svc.langpackAt(ctx, langpack.Go, env, v)
		if err != nil {
			h.fail(w, r, err)
			return
		}
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
			data, err = langpack.GoModuleZipAt(modulePath, v, files)
			w.Header().Set("Content-Type", "application/zip")
		}
		if err != nil {
			// The pack does not make a module at this path (a generator
			// that does not write the /vN path of a major version): say so.
			slog.ErrorContext(ctx, "Go langpack is not a module at its path", "module", modulePath, "version", v.String(), "err", err)
			http.Error(w, fmt.Sprintf("%s@%s cannot be served: %v", modulePath, langpack.GoVersion(v), err), http.StatusInternalServerError)
			return
		}
		w.Write(data)
	default:
		http.Error(w, fmt.Sprintf("not found: %s: use .info, .mod or .zip", query), http.StatusNotFound)
	}
}

// goModuleEnvironment finds the environment and major version a module
// path names: an environment's module path is its majors 0 and 1 (returned
// as 1), the path with a /vN suffix its major N.
func (h langpackHTTP) goModuleEnvironment(ctx context.Context, modulePath string) (env string, major int, ok bool, err error) {
	env, ok, err = h.environmentWhere(ctx, func(n langpack.Names) bool { return n.GoModule == modulePath })
	if ok || err != nil {
		return env, 1, ok, err
	}
	base, major := langpack.GoModuleMajor(modulePath)
	if major < 2 {
		return "", 0, false, nil
	}
	env, ok, err = h.environmentWhere(ctx, func(n langpack.Names) bool { return n.GoModule == base })
	return env, major, ok, err
}

// goMajorsHint names the module path of each major version of env's Go
// langpack.
func goMajorsHint(all []Langpack, env string) string {
	base := langpack.NamesFor(env).GoModule
	var paths []string
	for _, l := range all {
		p := langpack.GoModulePath(base, l.Version.Major)
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return fmt.Sprintf("environment %q has no langpack version yet", env)
	}
	return "the versions of " + env + " are under " + strings.Join(paths, ", ")
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
	}{langpack.GoVersion(l.Version), l.CreatedAt.UTC()})
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
		link, err := h.cache.get(fmt.Sprintf("pypi-link/%s/%s", env, info.Version), func() ([]byte, error) {
			l, err := h.svc.langpackAt(ctx, langpack.Python, env, info.Version)
			if err != nil {
				return nil, err
			}
			wheel, err := h.wheel(l)
			if err != nil {
				return nil, err
			}
			return fmt.Appendf(nil, "<a href=\"../../files/%s/%s#sha256=%x\" data-requires-python=\"%s\">%s</a><br>\n",
				html.EscapeString(env), html.EscapeString(wheel.Filename), sha256Sum(wheel.Data), html.EscapeString(wheel.RequiresPython), html.EscapeString(wheel.Filename)), nil
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		page.Write(link)
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

// pypiFile serves a wheel: /pypi/files/<env>/<dist>-<version>-py3-none-any.whl.
func (h langpackHTTP) pypiFile(w http.ResponseWriter, r *http.Request) {
	env, file := r.PathValue("env"), r.PathValue("file")
	l, err := h.versionByFile(r.Context(), langpack.Python, env, file, func(v string) string {
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

// versionByFile finds the version whose file name (as filename spells it
// for a package version) is file, and returns its pack.
func (h langpackHTTP) versionByFile(ctx context.Context, lang langpack.Language, env, file string, filename func(packageVersion string) string) (Langpack, error) {
	for _, p := range [][2]string{{"environment", env}, {"file", file}} {
		if err := checkName(p[0], p[1]); err != nil {
			return Langpack{}, invalidLangpackRequest(err)
		}
	}
	list, err := h.packageVersions(ctx, lang, env)
	if err != nil {
		return Langpack{}, err
	}
	for _, l := range list {
		if filename(l.PackageVersion()) == file {
			return h.svc.langpackAt(ctx, lang, env, l.Version)
		}
	}
	return Langpack{}, notFound("%s: no such %s langpack file for environment %q (%d versions)", file, lang, env, len(list))
}

// composerPackages serves /composer/packages.json: every environment's PHP
// langpack versions with their dist zips. A version's entry never changes,
// so each is built once (indexCache), and the whole document is kept for
// as long as the versions and the registry's address are the same.
func (h langpackHTTP) composerPackages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	envs, err := h.svc.store.ListEnvironments(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	base := baseURL(r)
	lists := make([][]Langpack, len(envs))
	key := sha256.New()
	fmt.Fprintf(key, "%s\x00", base)
	for i, e := range envs {
		if lists[i], err = h.packageVersions(ctx, langpack.PHP, e.Name); err != nil {
			h.fail(w, r, err)
			return
		}
		fmt.Fprintf(key, "%s\x00", e.Name)
		for _, l := range lists[i] {
			fmt.Fprintf(key, "%s\x00", l.Version)
		}
	}
	doc, err := h.cache.get(fmt.Sprintf("composer-packages/%x", key.Sum(nil)), func() ([]byte, error) {
		packages := map[string]map[string]json.RawMessage{}
		for i, e := range envs {
			names := langpack.NamesFor(e.Name)
			for _, info := range lists[i] {
				pkg, err := h.cache.get(fmt.Sprintf("composer-package/%s/%s/%s", base, e.Name, info.Version), func() ([]byte, error) {
					return h.composerPackage(ctx, base, e.Name, info)
				})
				if err != nil {
					return nil, err
				}
				if packages[names.ComposerName] == nil {
					packages[names.ComposerName] = map[string]json.RawMessage{}
				}
				packages[names.ComposerName][info.PackageVersion()] = pkg
			}
		}
		return json.MarshalIndent(map[string]any{"packages": packages}, "", "  ")
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

// composerPackage is the packages.json entry of one PHP langpack version.
func (h langpackHTTP) composerPackage(ctx context.Context, base, env string, info Langpack) ([]byte, error) {
	l, err := h.svc.langpackAt(ctx, langpack.PHP, env, info.Version)
	if err != nil {
		return nil, err
	}
	dist, err := composerDist(l)
	if err != nil {
		return nil, err
	}
	pkg := dist.Package
	pkg["version"] = l.PackageVersion()
	pkg["version_normalized"] = l.PackageVersion() + ".0"
	pkg["time"] = info.CreatedAt.UTC().Format(time.RFC3339)
	pkg["dist"] = map[string]string{
		"type":   "zip",
		"url":    fmt.Sprintf("%s/composer/dist/%s/%s", base, env, composerDistFile(l.PackageVersion())),
		"shasum": dist.Shasum,
	}
	return json.Marshal(pkg)
}

func composerDistFile(packageVersion string) string { return packageVersion + ".zip" }

func composerDist(l Langpack) (*langpack.ComposerDist, error) {
	files, err := langpackFiles(l)
	if err != nil {
		return nil, err
	}
	return langpack.BuildComposerDist(langpack.NamesFor(l.Environment), files)
}

// composerDist serves /composer/dist/<env>/<version>.zip.
func (h langpackHTTP) composerDist(w http.ResponseWriter, r *http.Request) {
	l, err := h.versionByFile(r.Context(), langpack.PHP, r.PathValue("env"), r.PathValue("file"), composerDistFile)
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
// /maven/<group path>/<artifact>/<version>/<artifact>-<version>.pom|.jar|-sources.jar,
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
		l, err := h.versionByFile(ctx, langpack.Java, env, base, filename)
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

// indexCacheBytes bounds what native indexes keep of what they derived
// from stored packs.
const indexCacheBytes = 16 << 20

// indexCache keeps values derived from stored langpacks, which never
// change (an index entry of one version, an index document for one list of
// versions), up to a total size: the oldest go first. Values are computed
// outside the lock; two requests may compute one value twice, with equal
// results.
type indexCache struct {
	mu     sync.Mutex
	limit  int
	size   int
	values map[string][]byte
	order  []string // keys, oldest first
}

func newIndexCache(limit int) *indexCache {
	return &indexCache{limit: limit, values: map[string][]byte{}}
}

// get returns the value of key, computing and keeping it when absent.
func (c *indexCache) get(key string, compute func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	v, ok := c.values[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := compute()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.values[key]; ok || len(v) > c.limit {
		return v, nil
	}
	for c.size+len(v) > c.limit && len(c.order) > 0 {
		oldest := c.order[0]
		c.order = c.order[1:]
		c.size -= len(c.values[oldest])
		delete(c.values, oldest)
	}
	c.values[key] = v
	c.order = append(c.order, key)
	c.size += len(v)
	return v, nil
}
