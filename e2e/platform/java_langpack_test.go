package platform_test

import (
	"archive/zip"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// javaSend builds two web events with the Java langpack and sends them;
// args: the ingest URL and an API key of web.
const javaSend = `import dev.clickstream.events.web.*;
import java.util.Arrays;
import java.util.List;

public class Send {
    public static void main(String[] args) {
        try {
            new ItemViewV2().setContext(new Context().setUserId("u-java")).validate();
            System.out.println("an ItemViewV2 without item_id passed validation");
            System.exit(1);
        } catch (ValidationException e) {
            System.out.println("missing required field threw: " + e.getMessage());
        }
        Sender sender = new Sender(args[0]).apiKey(args[1]);
        try {
            sender.send(new ItemViewV2().setContext(new Context().setUserId("u-java")));
            System.out.println("an invalid event was sent");
            System.exit(1);
        } catch (ValidationException e) {
            System.out.println("nothing sent for an invalid event");
        }
        List<ClickstreamEvent> events = Arrays.<ClickstreamEvent>asList(
                new ItemViewV2().setContext(new Context().setUserId("u-java")).setItemId(4815162342L).setReferrer("langpack"),
                new PlaceCardOpenedV1().setContext(new Context().setUserId("u-java")).setObjectId("place-1"));
        List<Result> results = sender.send(events, Arrays.asList("java-langpack-1", "java-langpack-2"));
        for (Result r : results) {
            System.out.println(r.key() + " " + r.status() + " " + r.rejection() + " " + r.error());
        }
    }
}
`

// TestLangpackJavaFromMavenRepository: the registry's Maven repository
// serves the web Java langpack as Maven lays it out (maven-metadata.xml, a
// POM without dependencies, a jar of classes, a -sources.jar, .sha1 and
// .md5 checksums); a program compiled against the jar alone (javac
// -sourcepath "" -cp <jar>: no sources, no protobuf-java) validates before
// sending and sends events that the running ingest accepts and puts on the bus.
func TestLangpackJavaFromMavenRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs javac")
	}
	javac := needTool(t, "javac", "apt-get install default-jdk-headless")
	java := needTool(t, "java", "apt-get install default-jdk-headless")
	s, key := webLangpackStack(t)
	names := langpack.NamesFor("web")
	repo := s.URL(platform.Registry) + "/maven/" + langpack.MavenGroupPath(names) + "/" + names.MavenArtifact

	metadata := string(fetch(t, http.MethodGet, repo+"/maven-metadata.xml", ""))
	m := regexp.MustCompile(`<release>([^<]+)</release>`).FindStringSubmatch(metadata)
	if m == nil || !strings.Contains(metadata, "<version>"+m[1]+"</version>") {
		t.Fatalf("maven-metadata.xml names no released version:\n%s", metadata)
	}
	version := m[1]
	file := repo + "/" + version + "/" + names.MavenArtifact + "-" + version
	pom := string(fetch(t, http.MethodGet, file+".pom", ""))
	if !strings.Contains(pom, "<version>"+version+"</version>") || strings.Contains(pom, "<dependency>") {
		t.Errorf("the POM is not version %s without dependencies:\n%s", version, pom)
	}
	jar := fetch(t, http.MethodGet, file+".jar", "")
	sources := fetch(t, http.MethodGet, file+"-sources.jar", "")
	for name, data := range map[string][]byte{".jar": jar, "-sources.jar": sources, ".pom": []byte(pom)} {
		s1, m5 := sha1.Sum(data), md5.Sum(data)
		if got := string(fetch(t, http.MethodGet, file+name+".sha1", "")); got != hex.EncodeToString(s1[:]) {
			t.Errorf("%s.sha1 is %s, the file's SHA-1 %x", name, got, s1)
		}
		if got := string(fetch(t, http.MethodGet, file+name+".md5", "")); got != hex.EncodeToString(m5[:]) {
			t.Errorf("%s.md5 is %s, the file's MD5 %x", name, got, m5)
		}
	}
	classes, javaFiles := jarEntries(t, jar, ".class"), jarEntries(t, sources, ".java")
	t.Logf("%s %s: jar %d bytes with %d classes and %d sources; -sources.jar with %d sources", names.MavenArtifact, version, len(jar), classes, jarEntries(t, jar, ".java"), javaFiles)
	if classes == 0 || javaFiles == 0 || jarEntries(t, jar, ".java") != 0 {
		t.Errorf("want classes only in the jar and sources in the -sources.jar")
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "events-web.jar"), jar)
	writeFile(t, filepath.Join(dir, "Send.java"), []byte(javaSend))
	run(t, dir, nil, javac, "-sourcepath", "", "-cp", "events-web.jar", "-d", "classes", "Send.java")
	out := run(t, dir, nil, java, "-cp", "events-web.jar"+string(os.PathListSeparator)+"classes", "Send", s.URL(platform.Ingest), key)
	t.Logf("the Java program says:\n%s", out)
	for _, want := range []string{
		"missing required field threw: ItemViewV2 (event 1001 v2): required field item_id is not set",
		"nothing sent for an invalid event",
		"java-langpack-1 EVENT_STATUS_ACCEPTED null null",
		"java-langpack-2 EVENT_STATUS_ACCEPTED null null",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the Java program's output lacks %q", want)
		}
	}
	onBus := map[string]int{}
	err := harness.ReadStream(t.Context(), s.Bus().JetStream(), bus.StreamEvents, "", func(msg jetstream.Msg) {
		onBus[msg.Headers().Get(jetstream.MsgIDHeader)]++
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages on %s", harness.Total(onBus), bus.StreamEvents)
	for _, k := range []string{"java-langpack-1", "java-langpack-2"} {
		if onBus[k] != 1 {
			t.Errorf("event %s is %d times on the %s stream, want 1: %v", k, onBus[k], bus.StreamEvents, onBus)
		}
	}
}

// jarEntries counts the entries of a jar whose name ends with suffix.
func jarEntries(t *testing.T, jar []byte, suffix string) int {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, suffix) {
			n++
		}
	}
	return n
}
