package registry_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// needJavac skips a test that needs the registry to compile jars when the
// host has no JDK, and fails it under CI.
func needJavac(t *testing.T) {
	t.Helper()
	if _, err := langpack.FindJDK(t.Context(), ""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI is set): apt-get install default-jdk-headless", err)
		}
		t.Skipf("%v: the registry would serve no jar of classes (TestLangpackMavenWithoutJDK covers that)", err)
	}
}

// mavenRelease is the <release> of a maven-metadata.xml: the newest version.
func mavenRelease(t *testing.T, metadata string) string {
	t.Helper()
	m := regexp.MustCompile(`<release>([^<]+)</release>`).FindStringSubmatch(metadata)
	if m == nil {
		t.Fatalf("maven-metadata.xml has no <release>:\n%s", metadata)
	}
	return m[1]
}

// TestLangpackMavenRepository: /maven/ is a Maven repository layout of each
// environment's Java langpack: maven-metadata.xml lists the versions, the
// pom names the artifact and no dependency, the jar holds the classes
// compiled by the registry's JDK (Java 8 class files, no sources), the
// -sources.jar the Java sources at their package paths, both with the pom
// under META-INF/maven/; checksums match, a new version is listed, and an
// old jar keeps its bytes (compiled once, then served from the cache).
func TestLangpackMavenRepository(t *testing.T) {
	needJavac(t)
	store, url := webRegistry(t)
	names := langpack.NamesFor("web")
	base := url + "/maven/dev/clickstream/" + names.MavenArtifact

	metadata := string(mustGet(t, base+"/maven-metadata.xml"))
	v := mavenRelease(t, metadata)
	for _, want := range []string{"<groupId>dev.clickstream</groupId>", "<artifactId>events-web</artifactId>", "<version>" + v + "</version>", "<latest>" + v + "</latest>"} {
		if !strings.Contains(metadata, want) {
			t.Errorf("maven-metadata.xml lacks %s:\n%s", want, metadata)
		}
	}
	dir := base + "/" + v + "/" + names.MavenArtifact + "-" + v
	pom := string(mustGet(t, dir+".pom"))
	for _, want := range []string{"<groupId>dev.clickstream</groupId>", "<artifactId>events-web</artifactId>", "<version>" + v + "</version>"} {
		if !strings.Contains(pom, want) {
			t.Errorf("the pom lacks %s:\n%s", want, pom)
		}
	}
	if strings.Contains(pom, "<dependency>") {
		t.Errorf("the pom names a dependency, but the pack needs none:\n%s", pom)
	}
	jar := mustGet(t, dir+".jar")
	if sum := sha1.Sum(jar); string(mustGet(t, dir+".jar.sha1")) != hex.EncodeToString(sum[:]) {
		t.Error("the jar's .sha1 does not match the jar")
	}
	if sum := md5.Sum(jar); string(mustGet(t, dir+".jar.md5")) != hex.EncodeToString(sum[:]) {
		t.Error("the jar's .md5 does not match the jar")
	}
	if sum := sha256.Sum256([]byte(pom)); string(mustGet(t, dir+".pom.sha256")) != hex.EncodeToString(sum[:]) {
		t.Error("the pom's .sha256 does not match the pom")
	}
	classes := unzip(t, jar)
	sources := unzip(t, mustGet(t, dir+"-sources.jar"))
	t.Logf("%s: jar of %d entries (%d bytes), sources jar of %d entries", v, len(classes), len(jar), len(sources))
	for name, files := range map[string]map[string][]byte{"jar": classes, "-sources.jar": sources} {
		if string(files["META-INF/maven/dev.clickstream/events-web/pom.xml"]) != pom {
			t.Errorf("the %s's META-INF/maven/…/pom.xml differs from the pom", name)
		}
		if _, ok := files["META-INF/MANIFEST.MF"]; !ok {
			t.Errorf("the %s has no META-INF/MANIFEST.MF", name)
		}
	}
	for _, want := range []string{"dev/clickstream/events/web/Sender.class", "dev/clickstream/events/web/ItemViewV2.class", "dev/clickstream/events/web/Wire$Writer.class"} {
		data, ok := classes[want]
		if !ok {
			t.Errorf("the jar lacks %s: %v", want, slices.Sorted(maps.Keys(classes)))
			continue
		}
		if len(data) < 8 || data[7] != 52 {
			t.Errorf("%s is not a Java 8 class file", want)
		}
	}
	for name := range classes {
		if strings.HasSuffix(name, ".java") {
			t.Errorf("the jar of classes holds the source %s", name)
		}
	}
	for _, want := range []string{"dev/clickstream/events/web/Sender.java", "dev/clickstream/events/web/ItemViewV2.java"} {
		if _, ok := sources[want]; !ok {
			t.Errorf("the -sources.jar lacks %s", want)
		}
	}
	if _, ok := classes["dev/clickstream/events/web/SearchQueryV1.class"]; ok {
		t.Error("the jar holds SearchQueryV1, which web may not send yet")
	}

	allow(t, store, "web", searchQueryID, 1, true)
	metadata = string(mustGet(t, base+"/maven-metadata.xml"))
	next := mavenRelease(t, metadata)
	if next == v || !strings.Contains(metadata, "<version>"+v+"</version>") {
		t.Errorf("maven-metadata.xml after a change does not list a new version beside %s:\n%s", v, metadata)
	}
	if _, ok := unzip(t, mustGet(t, base+"/"+next+"/"+names.MavenArtifact+"-"+next+".jar"))["dev/clickstream/events/web/SearchQueryV1.class"]; !ok {
		t.Errorf("the %s jar lacks SearchQueryV1", next)
	}
	if again := mustGet(t, dir+".jar"); !bytes.Equal(again, jar) {
		t.Errorf("the %s jar changed after %s was generated", v, next)
	}

	for path, want := range map[string]int{
		"/maven/dev/clickstream/events-kiosk/maven-metadata.xml":                           http.StatusNotFound,
		"/maven/dev/clickstream/events-web/9.9.0/events-web-9.9.0.jar":                     http.StatusNotFound,
		"/maven/dev/clickstream/events-web/" + v + "/events-web-" + next + ".jar":          http.StatusNotFound,
		"/maven/dev/clickstream/events-web/" + v + "/events-web-" + v + ".war":             http.StatusNotFound,
		"/maven/org/example/events-web/maven-metadata.xml":                                 http.StatusNotFound,
		"/maven/dev/clickstream/events-web/index.html":                                     http.StatusNotFound,
		"/maven/dev/clickstream/events-app/maven-metadata.xml":                             http.StatusOK,
		"/maven/dev/clickstream/events-app/maven-metadata.xml.sha1":                        http.StatusOK,
		"/maven/dev/clickstream/events-web/" + v + "/events-web-" + v + "-sources.jar.md5": http.StatusOK,
	} {
		if status, body := httpGet(t, url+path); status != want {
			t.Errorf("GET %s: %d %s, want %d", path, status, body, want)
		}
	}
}

// TestLangpackMavenWithoutJDK: a registry whose host has no JDK serves the
// POM and the -sources.jar, and answers the jar of classes 501 with a
// message saying to install one.
func TestLangpackMavenWithoutJDK(t *testing.T) {
	t.Setenv("JAVA_HOME", t.TempDir()) // a JDK home without bin/javac
	_, url := webRegistry(t)
	names := langpack.NamesFor("web")
	base := url + "/maven/dev/clickstream/" + names.MavenArtifact
	v := mavenRelease(t, string(mustGet(t, base+"/maven-metadata.xml")))
	dir := base + "/" + v + "/" + names.MavenArtifact + "-" + v
	if _, ok := unzip(t, mustGet(t, dir+"-sources.jar"))["dev/clickstream/events/web/ItemViewV2.java"]; !ok {
		t.Error("the -sources.jar lacks ItemViewV2.java")
	}
	if pom := string(mustGet(t, dir+".pom")); !strings.Contains(pom, "<artifactId>events-web</artifactId>") {
		t.Errorf("the pom:\n%s", pom)
	}
	for _, path := range []string{dir + ".jar", dir + ".jar.sha1"} {
		status, body := httpGet(t, path)
		t.Logf("GET %s: %d %s", path, status, body)
		if status != http.StatusNotImplemented {
			t.Errorf("GET %s without a JDK: %d, want 501", path, status)
		}
		for _, want := range []string{"this registry has no JDK", "install one", "-sources.jar"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("GET %s without a JDK: the message lacks %q: %s", path, want, body)
			}
		}
	}
}

// TestLangpackMavenJarStoredWithTheVersion: the first jar of classes built
// of a version is stored with it, so another registry instance on the same
// database — here one whose host has no JDK at all, as after a JDK upgrade
// or removal — serves the same bytes instead of building (or refusing)
// them, and a second build of the version cannot replace the first.
func TestLangpackMavenJarStoredWithTheVersion(t *testing.T) {
	needJavac(t)
	store, url := webRegistry(t)
	names := langpack.NamesFor("web")
	base := "/maven/dev/clickstream/" + names.MavenArtifact
	v := mavenRelease(t, string(mustGet(t, url+base+"/maven-metadata.xml")))
	path := base + "/" + v + "/" + names.MavenArtifact + "-" + v + ".jar"
	built := mustGet(t, url+path)

	t.Setenv("JAVA_HOME", t.TempDir()) // the second instance's host has no javac
	other := serveRegistry(t, registry.Config{AdminToken: "langpack-token"}, store)
	status, served := httpGet(t, other+path)
	if status != http.StatusOK || !bytes.Equal(served, built) {
		t.Fatalf("GET %s from an instance without a JDK: %d, %d bytes; want 200 with the %d bytes built first", path, status, len(served), len(built))
	}
	if sum := sha1.Sum(built); string(mustGet(t, other+path+".sha1")) != hex.EncodeToString(sum[:]) {
		t.Error("the stored jar's .sha1 does not match it")
	}

	l, err := store.Langpack(t.Context(), "java", "web", mustParseVersion(t, v))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := store.AddLangpackBuild(t.Context(), l, "jar", "javac 99", []byte("other bytes"))
	if err != nil || !bytes.Equal(kept, built) {
		t.Errorf("a second build of %s: %d bytes, %v; want the first build's %d bytes kept", v, len(kept), err, len(built))
	}
	t.Logf("jar of %s: %d bytes built by the first instance, served as stored by an instance without a JDK", v, len(built))
}

func mustParseVersion(t *testing.T, s string) langpack.Version {
	t.Helper()
	v, err := langpack.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
