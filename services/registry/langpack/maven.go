package langpack

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// MavenArtifact is a Java langpack as a Maven repository serves it. The
// registry runs no Java compiler, so the jar holds the Java sources (and the
// pom), not classes: a build compiles them (see the pack's README).
type MavenArtifact struct {
	POM []byte
	Jar []byte // the sources, at their package paths, with META-INF/maven/<group>/<artifact>/pom.xml
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
	var pom []byte
	for _, f := range files {
		if f.Path == "pom.xml" {
			pom = f.Data
		}
	}
	if pom == nil {
		return nil, fmt.Errorf("build maven artifact %s:%s:%s: the Java langpack has no pom.xml", names.MavenGroup, names.MavenArtifact, packageVersion)
	}
	var project struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
		Version    string `xml:"version"`
	}
	if err := xml.Unmarshal(pom, &project); err != nil {
		return nil, fmt.Errorf("build maven artifact %s:%s:%s: pom.xml: %w", names.MavenGroup, names.MavenArtifact, packageVersion, err)
	}
	if project.GroupID != names.MavenGroup || project.ArtifactID != names.MavenArtifact || project.Version != packageVersion {
		return nil, fmt.Errorf("build maven artifact %s:%s:%s: pom.xml is %s:%s:%s", names.MavenGroup, names.MavenArtifact, packageVersion,
			project.GroupID, project.ArtifactID, project.Version)
	}

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	manifest := "Manifest-Version: 1.0\r\nCreated-By: " + GeneratorVersion + "\r\n" +
		"Implementation-Title: " + names.MavenGroup + ":" + names.MavenArtifact + "\r\nImplementation-Version: " + packageVersion + "\r\n\r\n"
	if err := addZipFile(zw, "META-INF/MANIFEST.MF", []byte(manifest)); err != nil {
		return nil, err
	}
	if err := addZipFile(zw, "META-INF/maven/"+names.MavenGroup+"/"+names.MavenArtifact+"/pom.xml", pom); err != nil {
		return nil, err
	}
	sources := 0
	for _, f := range files {
		rel, ok := strings.CutPrefix(f.Path, "src/main/java/")
		switch {
		case ok:
			sources++
		case f.Path == "README.md" || f.Path == ManifestPath:
			rel = "META-INF/clickstream/" + f.Path
		default:
			continue
		}
		if err := addZipFile(zw, rel, f.Data); err != nil {
			return nil, err
		}
	}
	if sources == 0 {
		return nil, fmt.Errorf("build maven artifact %s:%s:%s: the Java langpack has no sources under src/main/java/", names.MavenGroup, names.MavenArtifact, packageVersion)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &MavenArtifact{POM: pom, Jar: buf.Bytes()}, nil
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
