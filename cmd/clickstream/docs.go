package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// maxDocsExport bounds what an export may unpack, so a wrong URL cannot
// fill the disk.
const maxDocsExport = 256 << 20

func newDocsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Export the documentation of the event catalogue",
		Long: `The registry serves the documentation of the event catalogue as HTML at
/docs/ (environments and every event), /docs/<env>/ (the events an environment
may send) and /docs/<env>/events/<Event> (versions, fields, owner, status,
usage and the diff between consecutive versions). The same pages exist in
Markdown: add .md to an event page, or read /docs/<env>/index.md.`,
	}
	cmd.AddCommand(newDocsExportCommand())
	return cmd
}

func newDocsExportCommand() *cobra.Command {
	var registryURL, env, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the Markdown documentation of an environment (or of the whole catalogue) to a directory",
		Long: `Fetches GET <registry>/docs/<env>/export.tar.gz (or /docs/export.tar.gz
without --env) and writes its files under the output directory:
index.md and events/<Event>.md for every event, with relative links between
them. Markdown files under events/ that the export no longer holds (an event
the environment may not send any more) are removed; nothing else is.`,
		Example: `  clickstream docs export --env web -o ./docs
  clickstream docs export -o ./catalogue --registry http://registry:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := url.Parse(registryURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError{fmt.Errorf("--registry %q: use the registry's base URL, e.g. %s", registryURL, defaultRegistryURL)}
			}
			if out == "" {
				return usageError{errors.New("--output (-o) is required: the directory to write the Markdown files to")}
			}
			archive := strings.TrimRight(registryURL, "/") + "/docs/export.tar.gz"
			if env != "" {
				archive = strings.TrimRight(registryURL, "/") + "/docs/" + url.PathEscape(env) + "/export.tar.gz"
			}
			files, err := exportDocs(cmd.Context(), archive, out)
			if err != nil {
				return err
			}
			scope := "the whole catalogue"
			if env != "" {
				scope = "environment " + env
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d file(s) documenting %s to %s\n", files, scope, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&registryURL, "registry", defaultRegistryURL, "base URL of the registry")
	f.StringVar(&env, "env", "", "environment to document; empty for the whole catalogue")
	f.StringVarP(&out, "output", "o", "", "directory to write the Markdown files to (created if missing)")
	return cmd
}

// exportDocs fetches a documentation archive and writes its files under
// dir, returning how many files it wrote.
func exportDocs(ctx context.Context, archiveURL, dir string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, archiveURL, nil)
	if err != nil {
		return 0, fmt.Errorf("export docs: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("export docs: the registry does not answer at %s (%v); start it with `clickstream dev` or point --registry (or $CLICKSTREAM_REGISTRY) at it",
			archiveURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return 0, fmt.Errorf("export docs: GET %s: %s: %s", archiveURL, resp.Status, strings.TrimSpace(string(msg)))
	}
	gz, err := gzip.NewReader(io.LimitReader(resp.Body, maxDocsExport))
	if err != nil {
		return 0, fmt.Errorf("export docs: %s is not a tar.gz: %w", archiveURL, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("export docs: %w", err)
	}
	written := map[string]bool{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return len(written), fmt.Errorf("export docs: read %s: %w", archiveURL, err)
		}
		name := path.Clean(hdr.Name)
		if !fs.ValidPath(name) {
			return len(written), fmt.Errorf("export docs: the archive holds %q, a path outside the output directory", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return len(written), fmt.Errorf("export docs: %w", err)
			}
		case tar.TypeReg:
			if err := writeDocFile(target, tr); err != nil {
				return len(written), err
			}
			written[name] = true
		default:
			return len(written), fmt.Errorf("export docs: the archive holds %q of an unexpected type", hdr.Name)
		}
	}
	return len(written), removeStaleDocs(dir, written)
}

// writeDocFile writes one exported file, creating its directory.
func writeDocFile(target string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("export docs: %w", err)
	}
	f, err := os.Create(target)
	if err != nil {
		return fmt.Errorf("export docs: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("export docs: write %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export docs: write %s: %w", target, err)
	}
	return nil
}

// removeStaleDocs removes the event pages under dir/events that an earlier
// export wrote and this one did not.
func removeStaleDocs(dir string, written map[string]bool) error {
	entries, err := os.ReadDir(filepath.Join(dir, "events"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export docs: %w", err)
	}
	for _, e := range entries {
		name := "events/" + e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(name, ".md") && !written[name] {
			if err := os.Remove(filepath.Join(dir, "events", e.Name())); err != nil {
				return fmt.Errorf("export docs: remove the stale %s: %w", name, err)
			}
		}
	}
	return nil
}
