package platform_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// protobufJar is Debian's protobuf-java (package libprotobuf-java).
const protobufJar = "/usr/share/java/protobuf.jar"

// needTool returns the path of a toolchain binary (or file): a missing one
// fails the test under CI and skips it elsewhere.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if filepath.IsAbs(name) {
		path, err = name, nil
		if _, serr := os.Stat(name); serr != nil {
			err = serr
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (CI is set): %s", name, install)
		}
		t.Skipf("%s is not installed: %s", name, install)
	}
	return path
}

// fetch does a request and returns the body, failing the test on any status but 200.
func fetch(t *testing.T, method, url, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, url, resp.StatusCode, data)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLangpackJavaFromMavenRepository: the web Java langpack fetched from
// the registry's Maven repository (a jar of sources) compiles with javac
// against Debian's protobuf-java, and a program built with it sends an
// ItemViewV2 as protobuf over the Connect protocol that the running ingest
// accepts; an event lacking a required field throws before sending.
func TestLangpackJavaFromMavenRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs javac")
	}
	javac := needTool(t, "javac", "apt-get install default-jdk-headless")
	java := needTool(t, "java", "apt-get install default-jdk-headless")
	needTool(t, protobufJar, "apt-get install libprotobuf-java")
	s, key := webLangpackStack(t)
	names := langpack.NamesFor("web")
	repo := s.URL(platform.Registry) + "/maven/dev/clickstream/" + names.MavenArtifact
	version := webLangpackVersion(t, s)
	if md := string(fetch(t, http.MethodGet, repo+"/maven-metadata.xml", "")); !strings.Contains(md, "<version>"+version+"</version>") {
		t.Fatalf("maven-metadata.xml does not list %s:\n%s", version, md)
	}
	jar := fetch(t, http.MethodGet, repo+"/"+version+"/"+names.MavenArtifact+"-"+version+".jar", "")

	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".java") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "src", filepath.FromSlash(f.Name))
		writeFile(t, path, data)
		sources = append(sources, path)
	}
	if len(sources) == 0 {
		t.Fatal("the jar holds no Java sources")
	}
	run(t, dir, nil, javac, append([]string{"--release", "8", "-nowarn", "-cp", protobufJar, "-d", "classes"}, sources...)...)
	writeFile(t, filepath.Join(dir, "Send.java"), []byte(`import `+names.JavaPackage+`.*;
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
        ItemViewV2 event = new ItemViewV2().setContext(new Context().setUserId("u-java")).setItemId(4815162342L).setReferrer("langpack");
        List<Result> results = sender.send(java.util.Collections.singletonList(event), java.util.Collections.singletonList("java-langpack-1"));
        for (Result r : results) {
            System.out.println(r.key() + " " + r.status() + " " + r.rejection() + " " + r.error());
        }
    }
}
`))
	cp := "classes" + string(os.PathListSeparator) + protobufJar
	run(t, dir, nil, javac, "-cp", cp, "-d", "classes", "Send.java")
	out := run(t, dir, nil, java, "-cp", cp, "Send", s.URL(platform.Ingest), key)
	for _, want := range []string{
		"missing required field threw: ItemViewV2 (event 1001 v2): required field item_id is not set",
		"nothing sent for an invalid event",
		"java-langpack-1 EVENT_STATUS_ACCEPTED null null",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the Java program's output lacks %q:\n%s", want, out)
		}
	}
}

// TestLangpackCSharpFromTarball: the web C# langpack downloaded with the
// documented curl call compiles with mcs, and a program built with it sends
// an ItemViewV2 as protobuf JSON over the Connect protocol that the running
// ingest accepts; an event lacking a required field throws before sending.
func TestLangpackCSharpFromTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs mcs and mono")
	}
	mcs := needTool(t, "mcs", "apt-get install mono-mcs libmono-system-net-http4.0-cil")
	mono := needTool(t, "mono", "apt-get install mono-runtime")
	s, key := webLangpackStack(t)
	archive := fetch(t, http.MethodPost, s.URL(platform.Registry)+"/langpack/csharp/latest", `{"environment":"web"}`)

	dir := t.TempDir()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var sources []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		writeFile(t, path, data)
		if strings.HasSuffix(hdr.Name, ".cs") {
			sources = append(sources, path)
		}
	}
	pack := filepath.Join(dir, "csharp-web-"+webLangpackVersion(t, s))
	if _, err := os.Stat(filepath.Join(pack, langpack.NamesFor("web").CSharpName+".csproj")); err != nil {
		t.Fatalf("the tarball has no %s/%s.csproj: %v", filepath.Base(pack), langpack.NamesFor("web").CSharpName, err)
	}
	run(t, dir, nil, mcs, append([]string{"-target:library", "-r:System.Net.Http.dll", "-out:Langpack.dll"}, sources...)...)
	writeFile(t, filepath.Join(dir, "Send.cs"), []byte(`using System;
using System.Collections.Generic;
using `+langpack.NamesFor("web").CSharpName+`;

public static class Send
{
    public static int Main(string[] args)
    {
        try
        {
            new ItemViewV2 { Context = new Context { UserId = "u-cs" } }.Validate();
            Console.WriteLine("an ItemViewV2 without item_id passed validation");
            return 1;
        }
        catch (ValidationException e)
        {
            Console.WriteLine("missing required field threw: " + e.Message);
        }
        var sender = new Sender(args[0], args[1]);
        var ev = new ItemViewV2 { Context = new Context { UserId = "u-cs" }, ItemId = 4815162342, Referrer = "langpack" };
        foreach (var r in sender.Send(new List<IClickstreamEvent> { ev }, new List<string> { "csharp-langpack-1" }))
        {
            Console.WriteLine(r.Key + " " + r.Status + " " + r.Rejection + " " + r.Error);
        }
        return 0;
    }
}
`))
	run(t, dir, nil, mcs, "-r:Langpack.dll", "-r:System.Net.Http.dll", "-out:Send.exe", "Send.cs")
	out := run(t, dir, nil, mono, "Send.exe", s.URL(platform.Ingest), key)
	for _, want := range []string{
		"missing required field threw: ItemViewV2 (event 1001 v2): required field item_id is not set",
		"csharp-langpack-1 EVENT_STATUS_ACCEPTED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the C# program's output lacks %q:\n%s", want, out)
		}
	}
}
