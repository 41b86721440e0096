package langpack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrNoJDK is returned by FindJDK when the host has no Java compiler.
var ErrNoJDK = errors.New("no JDK: javac not found")

// JDK is the Java compiler a registry compiles the Java langpacks' jars of
// classes with.
type JDK struct {
	Javac   string // the javac binary
	Version string // as javac -version says it: "17.0.15", "1.8.0_392"
	major   int
}

// FindJDK finds javac in home/bin when home is set, else in
// $JAVA_HOME/bin, else on PATH, and asks it its version. It fails with
// ErrNoJDK when there is none, and for a JDK older than 8.
func FindJDK(ctx context.Context, home string) (*JDK, error) {
	javac, err := findJavac(home)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, javac, "-version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s -version: %w: %s", javac, err, strings.TrimSpace(string(out)))
	}
	m := regexp.MustCompile(`javac (\d+)(?:\.(\d+))?\S*`).FindStringSubmatch(string(out))
	if m == nil {
		return nil, fmt.Errorf("%s -version says %q: not a javac version", javac, strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	if major == 1 && m[2] != "" {
		major, _ = strconv.Atoi(m[2]) // 1.8 is 8
	}
	if major < 8 {
		return nil, fmt.Errorf("%s is %s: the Java langpacks need JDK 8 or later", javac, strings.TrimPrefix(m[0], "javac "))
	}
	return &JDK{Javac: javac, Version: strings.TrimPrefix(m[0], "javac "), major: major}, nil
}

func findJavac(home string) (string, error) {
	if home == "" {
		home = os.Getenv("JAVA_HOME")
	}
	if home != "" {
		javac := filepath.Join(home, "bin", "javac")
		if _, err := os.Stat(javac); err != nil {
			return "", fmt.Errorf("%w in %s/bin (JAVA_HOME)", ErrNoJDK, home)
		}
		return javac, nil
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		return "", fmt.Errorf("%w on PATH, and JAVA_HOME is not set", ErrNoJDK)
	}
	return javac, nil
}

// CompileJar compiles the artifact's sources for Java 8 (--release 8) and
// returns the jar of classes, with the same META-INF as the sources jar.
// The bytes depend only on the sources and the JDK's version. It runs
// javac in a temporary directory: seconds of CPU, so callers keep the result.
func (j *JDK) CompileJar(ctx context.Context, a *MavenArtifact) ([]byte, error) {
	dir, err := os.MkdirTemp("", "clickstream-javac-")
	if err != nil {
		return nil, fmt.Errorf("compile the Java langpack: %w", err)
	}
	defer os.RemoveAll(dir)
	src, classes := filepath.Join(dir, "src"), filepath.Join(dir, "classes")
	if err := os.MkdirAll(classes, 0o755); err != nil {
		return nil, fmt.Errorf("compile the Java langpack: %w", err)
	}
	var list strings.Builder
	for _, f := range a.sources {
		if !strings.HasSuffix(f.Path, ".java") {
			continue
		}
		path := filepath.Join(src, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("compile the Java langpack: %w", err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return nil, fmt.Errorf("compile the Java langpack: %w", err)
		}
		list.WriteString(strconv.Quote(filepath.ToSlash(path)) + "\n") // an @file quotes like Java
	}
	if err := os.WriteFile(filepath.Join(dir, "sources"), []byte(list.String()), 0o644); err != nil {
		return nil, fmt.Errorf("compile the Java langpack: %w", err)
	}
	// A small, quick-starting JVM: javac of one pack is short work.
	args := []string{"-J-Xmx512m", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1"}
	if j.major >= 9 {
		args = append(args, "--release", "8")
	} else {
		args = append(args, "-source", "8", "-target", "8")
	}
	// Nothing but the pack on the classpath: it depends on nothing.
	args = append(args, "-encoding", "UTF-8", "-nowarn", "-Xlint:-options", "-implicit:none",
		"-cp", classes, "-sourcepath", "", "-d", classes, "@"+filepath.Join(dir, "sources"))
	cmd := exec.CommandContext(ctx, j.Javac, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CLASSPATH=", "JDK_JAVA_OPTIONS=", "JAVA_TOOL_OPTIONS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		text := string(out)
		if len(text) > 4000 {
			text = text[:4000] + "…"
		}
		return nil, fmt.Errorf("compile the Java langpack with %s (%s): %w\n%s", j.Javac, j.Version, err, text)
	}
	var files []File
	err = filepath.WalkDir(classes, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(classes, path)
		files = append(files, File{Path: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compile the Java langpack: read the classes: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("compile the Java langpack with %s: javac wrote no classes", j.Javac)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return a.jar(files)
}
