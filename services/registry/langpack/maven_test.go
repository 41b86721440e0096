package langpack_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
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
	if err != nil || !bytes.Equal(a.Sources, again.Sources) {
		t.Fatalf("two builds of the same pack differ (%v)", err)
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Sources), int64(len(a.Sources)))
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
	if strings.Contains(string(a.POM), "<dependency>") {
		t.Errorf("the pom names a dependency; the pack has none:\n%s", a.POM)
	}
	if entries["META-INF/maven/dev.clickstream/events-web/pom.xml"] != string(a.POM) {
		t.Error("the jar's pom differs from the artifact's")
	}
	if !strings.Contains(entries["META-INF/MANIFEST.MF"], "Implementation-Version: 1.3.0\r\n") {
		t.Errorf("MANIFEST.MF:\n%s", entries["META-INF/MANIFEST.MF"])
	}
	src, _ := p.File("src/main/java/dev/clickstream/events/web/ItemViewV1.java")
	if entries["dev/clickstream/events/web/ItemViewV1.java"] != string(src) {
		t.Error("the sources jar does not hold ItemViewV1.java at its package path")
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

// unzipEntries returns a zip's files by name.
func unzipEntries(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}

// javaUseJar is a program using a pack through its jar of classes alone.
const javaUseJar = `import dev.clickstream.events.web.*;

public class UseJar {
    public static void main(String[] args) {
        try {
            new ItemViewV1().setContext(new Context().setUserId("u")).validate();
        } catch (ValidationException e) {
            System.out.println("invalid: " + e.getMessage());
        }
        byte[] b = new ItemViewV1().setContext(new Context().setUserId("u")).setItemId(7).toByteArray();
        System.out.println("bytes: " + b.length + " " + Langpack.ENVIRONMENT);
    }
}
`

// TestMavenCompileJar: the registry's JDK compiles a pack into a jar of
// Java 8 classes (class file version 52) without sources, twice to the same
// bytes; a program compiles against that jar alone (javac -sourcepath ""
// -cp <jar>) and runs; a JDK home without javac is ErrNoJDK.
func TestMavenCompileJar(t *testing.T) {
	javac := tool(t, "javac", "apt-get install default-jdk-headless")
	java := tool(t, "java", "apt-get install default-jdk-headless")
	jdk, err := langpack.FindJDK(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := langpack.Generate(langpack.Java, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	a, err := langpack.BuildMavenArtifact(langpack.NamesFor("web"), p.Manifest.PackageVersion, p.Files)
	if err != nil {
		t.Fatal(err)
	}
	jar, err := jdk.CompileJar(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := jdk.CompileJar(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(jar, again) {
		t.Error("two compilations of the same pack gave different jars")
	}
	entries := unzipEntries(t, jar)
	classes := 0
	for name, data := range entries {
		switch {
		case strings.HasSuffix(name, ".java"):
			t.Errorf("the jar of classes holds the source %s", name)
		case strings.HasSuffix(name, ".class"):
			classes++
			if len(data) < 8 || data[6] != 0 || data[7] != 52 {
				t.Errorf("%s is not a Java 8 class file (version bytes % x)", name, data[4:8])
			}
		}
	}
	for _, want := range []string{"META-INF/MANIFEST.MF", "META-INF/maven/dev.clickstream/events-web/pom.xml", "dev/clickstream/events/web/ItemViewV1.class", "dev/clickstream/events/web/Wire$Writer.class"} {
		if _, ok := entries[want]; !ok {
			t.Errorf("the jar lacks %s", want)
		}
	}
	t.Logf("%s %s compiled %d classes into a %d-byte jar", jdk.Javac, jdk.Version, classes, len(jar))

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events-web.jar"), jar, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "UseJar.java"), []byte(javaUseJar), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, javac, "-sourcepath", "", "-cp", "events-web.jar", "-d", ".", "UseJar.java")
	out := run(t, dir, nil, java, "-cp", "events-web.jar"+string(os.PathListSeparator)+".", "UseJar")
	for _, want := range []string{"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set", "bytes: 7 web"} {
		if !strings.Contains(out, want) {
			t.Errorf("the program's output lacks %q:\n%s", want, out)
		}
	}

	if _, err := langpack.FindJDK(t.Context(), t.TempDir()); !errors.Is(err, langpack.ErrNoJDK) {
		t.Errorf("FindJDK of a directory without bin/javac: %v, want ErrNoJDK", err)
	}
}
