package langpack

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// MavenArtifact is a Java langpack as a Maven repository serves it without
// compiling: the POM and the -sources.jar. The jar of classes comes from
// JDK.CompileJar, on a host with a JDK.
type MavenArtifact struct {
	POM     []byte
	Sources []byte // the -sources.jar: the sources at their package paths, with META-INF/maven/<group>/<artifact>/pom.xml
	// sources are the Java files by their path in the jar, for CompileJar.
	sources []File
	// meta are the META-INF entries every jar of the artifact carries.
	meta []File
}

// MavenFile is "<artifact>-<version><suffix>", e.g. "events-web-1.3.0.jar".
func MavenFile(names Names, packageVersion, suffix string) string {
	return names.MavenArtifact + "-" + packageVersion + suffix
}

// MavenGroupPath is the group's directory in a Maven repository: "dev/clickstream".
func MavenGroupPath(names Names) string { return strings.ReplaceAll(names.MavenGroup, ".", "/") }

// BuildMavenArtifact builds the pom and the sources jar of a Java langpack's
// files. Equal input gives equal bytes.
func BuildMavenArtifact(names Names, packageVersion string, files []File) (*MavenArtifact, error) {
	coords := names.MavenGroup + ":" + names.MavenArtifact + ":" + packageVersion
	var pom []byte
	for _, f := range files {
		if f.Path == "pom.xml" {
			pom = f.Data
		}
	}
	if pom == nil {
		return nil, fmt.Errorf("build maven artifact %s: the Java langpack has no pom.xml", coords)
	}
	var project struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
		Version    string `xml:"version"`
	}
	if err := xml.Unmarshal(pom, &project); err != nil {
		return nil, fmt.Errorf("build maven artifact %s: pom.xml: %w", coords, err)
	}
	if project.GroupID != names.MavenGroup || project.ArtifactID != names.MavenArtifact || project.Version != packageVersion {
		return nil, fmt.Errorf("build maven artifact %s: pom.xml is %s:%s:%s", coords, project.GroupID, project.ArtifactID, project.Version)
	}
	a := &MavenArtifact{POM: pom}
	manifest := "Manifest-Version: 1.0\r\nCreated-By: " + GeneratorVersion + "\r\n" +
		"Implementation-Title: " + names.MavenGroup + ":" + names.MavenArtifact + "\r\nImplementation-Version: " + packageVersion + "\r\n\r\n"
	a.meta = []File{
		{Path: "META-INF/MANIFEST.MF", Data: []byte(manifest)},
		{Path: "META-INF/maven/" + names.MavenGroup + "/" + names.MavenArtifact + "/pom.xml", Data: pom},
	}
	for _, f := range files {
		if rel, ok := strings.CutPrefix(f.Path, "src/main/java/"); ok {
			a.sources = append(a.sources, File{Path: rel, Data: f.Data})
		} else if f.Path == "README.md" || f.Path == ManifestPath {
			a.meta = append(a.meta, File{Path: "META-INF/clickstream/" + f.Path, Data: f.Data})
		}
	}
	if len(a.sources) == 0 {
		return nil, fmt.Errorf("build maven artifact %s: the Java langpack has no sources under src/main/java/", coords)
	}
	var err error
	if a.Sources, err = a.jar(a.sources); err != nil {
		return nil, fmt.Errorf("build maven artifact %s: %w", coords, err)
	}
	return a, nil
}

// jar is a jar of the artifact's META-INF entries and files, in that
// order, deterministic: a fixed time on every entry.
func (a *MavenArtifact) jar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range append(append([]File{}, a.meta...), files...) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Path, Method: zip.Deflate, Modified: archiveTime})
		if err == nil {
			_, err = w.Write(f.Data)
		}
		if err != nil {
			return nil, fmt.Errorf("jar entry %s: %w", f.Path, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MavenMetadata is the maven-metadata.xml of an artifact with its package
// versions, oldest first.
func MavenMetadata(names Names, versions []string, updated time.Time) []byte {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n")
	fmt.Fprintf(&b, "  <groupId>%s</groupId>\n  <artifactId>%s</artifactId>\n  <versioning>\n", xmlEscape(names.MavenGroup), xmlEscape(names.MavenArtifact))
	if n := len(versions); n > 0 {
		fmt.Fprintf(&b, "    <latest>%s</latest>\n    <release>%s</release>\n", versions[n-1], versions[n-1])
	}
	b.WriteString("    <versions>\n")
	for _, v := range versions {
		fmt.Fprintf(&b, "      <version>%s</version>\n", v)
	}
	fmt.Fprintf(&b, "    </versions>\n    <lastUpdated>%s</lastUpdated>\n  </versioning>\n</metadata>\n", updated.UTC().Format("20060102150405"))
	return []byte(b.String())
}
