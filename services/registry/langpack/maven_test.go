package langpack_test

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

func TestBuildMavenArtifact(t *testing.T) {
	p, err := langpack.Generate(langpack.Java, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	names := langpack.NamesFor("web")
	a, err := langpack.BuildMavenArtifact(names, "1.3.0", p.Files)
	if err != nil {
		t.Fatal(err)
	}
	again, err := langpack.BuildMavenArtifact(names, "1.3.0", p.Files)
	if err != nil || !bytes.Equal(a.Jar, again.Jar) {
		t.Fatalf("two builds of the same pack differ (%v)", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Jar), int64(len(a.Jar)))
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		entries[f.Name] = string(b)
	}
	if entries["META-INF/maven/dev.clickstream/events-web/pom.xml"] != string(a.POM) {
		t.Error("the jar's pom differs from the artifact's")
	}
	if !strings.Contains(entries["META-INF/MANIFEST.MF"], "Implementation-Version: 1.3.0\r\n") {
		t.Errorf("MANIFEST.MF:\n%s", entries["META-INF/MANIFEST.MF"])
	}
	src, _ := p.File("src/main/java/dev/clickstream/events/web/ItemViewV1.java")
	if entries["dev/clickstream/events/web/ItemViewV1.java"] != string(src) {
		t.Error("the jar does not hold ItemViewV1.java at its package path")
	}
	if _, err := langpack.BuildMavenArtifact(names, "1.4.0", p.Files); err == nil {
		t.Error("a pom of version 1.3.0 built an artifact of version 1.4.0")
	}
	if _, err := langpack.BuildMavenArtifact(langpack.NamesFor("app"), "1.3.0", p.Files); err == nil {
		t.Error("web's pom built app's artifact")
	}

	md := string(langpack.MavenMetadata(names, []string{"1.1.0", "1.2.0"}, time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)))
	for _, want := range []string{"<latest>1.2.0</latest>", "<version>1.1.0</version>", "<lastUpdated>20261205140000</lastUpdated>"} {
		if !strings.Contains(md, want) {
			t.Errorf("metadata lacks %s:\n%s", want, md)
		}
	}
}
