package platform_test

import (
	"archive/tar"
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
