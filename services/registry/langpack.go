package registry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// Langpack is one stored langpack of one language at one version of its
// environment's line. A stored pack never changes.
type Langpack struct {
	Language    string
	Environment string
	// Version is the semantic version, the same in every language for the
	// same content. Packs stored before semantic versions are 1.N.0 and
	// belong to no line.
	Version langpack.Version
	// Revision is the catalogue revision the version was made at.
	Revision uint64
	// ContentHash is the manifest's: the hash of the pack's files generated
	// at the zero version.
	ContentHash      string
	GeneratorVersion string
	// Manifest is the langpack.Manifest as JSON.
	Manifest []byte
	// Archive is the tar.gz served for the version; empty in lists.
	Archive   []byte
	CreatedAt time.Time
}

// PackageVersion is the version of the langpack's native packages: "1.4.0".
func (l Langpack) PackageVersion() string { return l.Version.String() }

// LangpackVersion is one version of an environment's langpack line: one
// number for one content, whichever language asks. Each holds what it was
// compared by (the API surface and the hash of the whole generator input)
// and the input itself, so the pack of any language can be generated for
// it later, byte for byte what it would have been at the time with the same
// generator.
type LangpackVersion struct {
	Environment string
	Version     langpack.Version
	SurfaceHash string
	// InputHash is langpack.InputHash of the input: equal hashes, equal
	// packs from one generator.
	InputHash        string
	GeneratorVersion string
	// Change says why the version was made: first version, what was
	// removed, changed or added, documentation, generator.
	Change string
	// Surface and Input are set when one version is read, not in lists.
	Surface  langpack.Surface
	Input    []byte // encodeLangpackInput
	Revision uint64
	// CreatedAt is the version's time in every language's index.
	CreatedAt time.Time
}

// ErrLangpackMoved is returned by AddLangpackVersion when another version
// was stored since the caller read the newest: compare again.
var ErrLangpackMoved = errors.New("another langpack version was stored meanwhile")

// LangpackStore keeps the langpack version lines and the generated packs,
// immutably.
type LangpackStore interface {
	// LangpackVersionAt returns the version an environment's catalogue at
	// a revision was given with a generator, or ErrNotFound when none was.
	LangpackVersionAt(ctx context.Context, environment string, revision uint64, generator string) (langpack.Version, error)
	// NewestLangpackVersion returns the newest version of an environment's
	// line with its surface and input, or ErrNotFound.
	NewestLangpackVersion(ctx context.Context, environment string) (LangpackVersion, error)
	// LangpackVersion returns one version of a line with its surface and
	// input, or ErrNotFound.
	LangpackVersion(ctx context.Context, environment string, v langpack.Version) (LangpackVersion, error)
	// ListLangpackVersions lists a line oldest first, without surfaces and
	// inputs.
	ListLangpackVersions(ctx context.Context, environment string) ([]LangpackVersion, error)
	// AddLangpackVersion stores lv as the newest version of its line when
	// the newest is still after (the zero Version when there is none);
	// when the newest has lv's hashes and generator it returns the newest
	// instead; otherwise it fails with ErrLangpackMoved. Either way it
	// records that lv.Revision gives the returned version; added says
	// whether lv was stored.
	AddLangpackVersion(ctx context.Context, lv LangpackVersion, after langpack.Version) (stored LangpackVersion, added bool, err error)
	// RecordLangpackVersionCheck records that an environment's catalogue at
	// a revision gives version v with a generator.
	RecordLangpackVersionCheck(ctx context.Context, environment string, revision uint64, generator string, v langpack.Version) error
	// Langpack returns one stored pack with its archive, or ErrNotFound.
	Langpack(ctx context.Context, language, environment string, v langpack.Version) (Langpack, error)
	// ListLangpacks lists stored packs without archives, by language,
	// environment and version; empty filters match all.
	ListLangpacks(ctx context.Context, language, environment string) ([]Langpack, error)
	// AddLangpack stores a pack unless one of its language, environment
	// and version is stored already, and returns the stored one.
	AddLangpack(ctx context.Context, l Langpack) (Langpack, error)
	// LangpackBuild returns what the registry built from a stored pack
	// (kind "jar": the Java jar of classes), or ErrNotFound.
	LangpackBuild(ctx context.Context, l Langpack, kind string) ([]byte, error)
	// AddLangpackBuild stores a build of a stored pack unless one of that
	// kind is stored already, and returns the stored bytes: the first
	// build of a version is the one served for good.
	AddLangpackBuild(ctx context.Context, l Langpack, kind, tool string, data []byte) ([]byte, error)
}

// latestVersion is how requests name the newest langpack version.
const latestVersion = "latest"

// parseLangpackVersion parses "latest" (or "") as the zero Version, a
// semantic version "1.4.0" (or "v1.4.0"), or a number N as 1.N.0, the
// name of the packs stored before semantic versions.
func parseLangpackVersion(s string) (langpack.Version, error) {
	if s == "" || s == latestVersion {
		return langpack.Version{}, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 1 {
		return langpack.Version{Major: 1, Minor: n}, nil
	}
	v, err := langpack.ParseVersion(s)
	if err != nil || v.IsZero() {
		return langpack.Version{}, fmt.Errorf("langpack version %q is not a version: use a semantic version such as 1.4.0, or %q", s, latestVersion)
	}
	return v, nil
}

// langpackRequestError is a request the caller must fix: an unknown
// language, environment or version. kind is ErrInvalid or ErrNotFound.
type langpackRequestError struct {
	kind error
	msg  string
}

func (e *langpackRequestError) Error() string { return e.msg }

// invalidLangpackRequest is a request refused by checkName.
func invalidLangpackRequest(err error) error {
	return &langpackRequestError{kind: ErrInvalid, msg: err.Error()}
}
func (e *langpackRequestError) Unwrap() error { return e.kind }

// currentLangpackVersion returns the version of the environment's current
// catalogue, adding it to the line when its content is new: a major
// version when the surface lost or changed anything, a minor one when it
// only gained, a patch when only documentation (or anything else the packs
// are generated from) or the generator changed.
func (s *Service) currentLangpackVersion(ctx context.Context, env string) (langpack.Version, error) {
	if revs, err := s.store.Revisions(ctx); err == nil {
		if v, err := s.store.LangpackVersionAt(ctx, env, revs.Current, langpack.GeneratorVersion); err == nil {
			return v, nil
		}
	}
	for range 5 {
		v, err := s.tryAddLangpackVersion(ctx, env)
		if errors.Is(err, ErrLangpackMoved) {
			continue
		}
		return v, err
	}
	return langpack.Version{}, fmt.Errorf("version the langpack of %q: versions kept being added concurrently: %w", env, ErrLangpackMoved)
}

func (s *Service) tryAddLangpackVersion(ctx context.Context, env string) (langpack.Version, error) {
	in, err := s.langpackInput(ctx, env)
	if err != nil {
		return langpack.Version{}, err
	}
	if v, err := s.store.LangpackVersionAt(ctx, env, in.Revision, langpack.GeneratorVersion); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrNotFound) {
		return langpack.Version{}, err
	}
	surface, err := langpack.SurfaceOf(in)
	if err != nil {
		return langpack.Version{}, fmt.Errorf("the API surface of %q (revision %d): %w", env, in.Revision, err)
	}
	inputHash, err := langpack.InputHash(in)
	if err != nil {
		return langpack.Version{}, err
	}
	candidate := LangpackVersion{
		Environment:      env,
		SurfaceHash:      surface.Hash(),
		InputHash:        inputHash,
		GeneratorVersion: langpack.GeneratorVersion,
		Surface:          surface,
		Revision:         in.Revision,
	}
	newest, err := s.store.NewestLangpackVersion(ctx, env)
	switch {
	case errors.Is(err, ErrNotFound):
		newest = LangpackVersion{}
	case err != nil:
		return langpack.Version{}, err
	}
	change, why := langpackChange(newest, candidate)
	if change == langpack.NoChange {
		return newest.Version, s.store.RecordLangpackVersionCheck(ctx, env, in.Revision, langpack.GeneratorVersion, newest.Version)
	}
	if candidate.Version, err = nextLangpackVersion(ctx, newest.Version, change); err != nil {
		return langpack.Version{}, err
	}
	candidate.Change = why
	if candidate.Input, err = encodeLangpackInput(in); err != nil {
		return langpack.Version{}, err
	}
	stored, added, err := s.store.AddLangpackVersion(ctx, candidate, newest.Version)
	if err != nil {
		return langpack.Version{}, err
	}
	if added {
		slog.InfoContext(ctx, "new langpack version", "environment", env, "version", stored.Version.String(),
			"revision", in.Revision, "change", why)
	}
	return stored.Version, nil
}

// langpackChange compares a candidate with the newest version of its line
// (the zero LangpackVersion when there is none): how the version moves, and
// why in words.
func langpackChange(newest, candidate LangpackVersion) (langpack.Change, string) {
	if newest.SurfaceHash == "" {
		return langpack.Major, "first version"
	}
	diff := langpack.DiffSurface(newest.Surface, candidate.Surface)
	switch c := diff.Change(); {
	case c != langpack.NoChange:
		return c, diff.String()
	case newest.InputHash != candidate.InputHash:
		return langpack.Patch, "documentation or other generated content changed; the API did not"
	case langpack.GeneratorMajor(newest.GeneratorVersion) != langpack.GeneratorMajor(candidate.GeneratorVersion):
		// The generator changed what every pack exposes (e.g. how enums or
		// a writer are represented): a program may break, so a new major.
		return langpack.Major, fmt.Sprintf("generator %s, was %s: the generated API changed", candidate.GeneratorVersion, newest.GeneratorVersion)
	case newest.GeneratorVersion != candidate.GeneratorVersion:
		return langpack.Patch, fmt.Sprintf("generator %s, was %s", candidate.GeneratorVersion, newest.GeneratorVersion)
	}
	return langpack.NoChange, ""
}

// nextLangpackVersion numbers the version after prev (the zero Version for
// the first of a line). A patch adds one to prev's patch. A new minor or
// major takes as its minor the Unix second it is made at, after prev's
// minor: when prev's minor is this second already, it waits for the next;
// the first version of a line always waits for a second to begin. So every
// minor names the second it was made at and no two share one, and a line
// started afresh — a registry re-created from an empty database — makes
// numbers after every number an earlier line made, in every major: a stale
// cache can never hold other bytes under one of its versions (as long as
// the clock does not go back).
func nextLangpackVersion(ctx context.Context, prev langpack.Version, change langpack.Change) (langpack.Version, error) {
	if change == langpack.Patch && !prev.IsZero() {
		return langpack.Version{Major: prev.Major, Minor: prev.Minor, Patch: prev.Patch + 1}, nil
	}
	after := int64(prev.Minor)
	if prev.IsZero() {
		after = time.Now().Unix()
	}
	second, err := secondAfter(ctx, after)
	if err != nil {
		return langpack.Version{}, err
	}
	switch {
	case prev.IsZero():
		return langpack.Version{Major: 1, Minor: int(second)}, nil
	case change == langpack.Major:
		return langpack.Version{Major: prev.Major + 1, Minor: int(second)}, nil
	}
	return langpack.Version{Major: prev.Major, Minor: int(second)}, nil
}

// secondAfter returns the current Unix second once it is after s, waiting
// for the clock if needed.
func secondAfter(ctx context.Context, s int64) (int64, error) {
	for {
		now := time.Now()
		if now.Unix() > s {
			return now.Unix(), nil
		}
		t := time.NewTimer(time.Unix(s+1, 0).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// storedInput is a langpack.Input as a line stores it.
type storedInput struct {
	Environment string           `json:"environment"`
	Events      []langpack.Event `json:"events"`
	Files       []byte           `json:"files"` // a FileDescriptorSet
}

// encodeLangpackInput encodes what a version's packs are generated from,
// but its version and revision, as gzip-compressed JSON.
func encodeLangpackInput(in langpack.Input) ([]byte, error) {
	files, err := proto.MarshalOptions{Deterministic: true}.Marshal(in.Files)
	if err != nil {
		return nil, fmt.Errorf("encode the langpack input of %q: %w", in.Environment, err)
	}
	data, err := json.Marshal(storedInput{Environment: in.Environment, Events: in.Events, Files: files})
	if err != nil {
		return nil, fmt.Errorf("encode the langpack input of %q: %w", in.Environment, err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeLangpackInput decodes what encodeLangpackInput encoded and gives it
// the version and revision of lv.
func decodeLangpackInput(lv LangpackVersion) (langpack.Input, error) {
	zr, err := gzip.NewReader(bytes.NewReader(lv.Input))
	if err != nil {
		return langpack.Input{}, fmt.Errorf("decode the input of langpack version %s of %q: %w", lv.Version, lv.Environment, err)
	}
	var si storedInput
	if err := json.NewDecoder(zr).Decode(&si); err != nil {
		return langpack.Input{}, fmt.Errorf("decode the input of langpack version %s of %q: %w", lv.Version, lv.Environment, err)
	}
	files := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(si.Files, files); err != nil {
		return langpack.Input{}, fmt.Errorf("decode the descriptors of langpack version %s of %q: %w", lv.Version, lv.Environment, err)
	}
	return langpack.Input{Environment: si.Environment, Revision: lv.Revision, Version: lv.Version, Files: files, Events: si.Events}, nil
}

// generating admits one pack generation at a time in the process: a pack of
// a 1,000-version catalogue holds tens of megabytes while it is generated,
// and a fetch of every language at once would hold them all together (the
// registry's memory target, docs/operations.md). Generation is CPU-bound, so
// waiting costs little; a stored pack is served without it.
var generating = make(chan struct{}, 1)

// langpackAt returns the pack of a language at a version, generating and
// storing it from the version's input when this language was not asked for
// it before.
func (s *Service) langpackAt(ctx context.Context, lang langpack.Language, env string, v langpack.Version) (Langpack, error) {
	l, err := s.store.Langpack(ctx, string(lang), env, v)
	if !errors.Is(err, ErrNotFound) {
		return l, err
	}
	lv, err := s.store.LangpackVersion(ctx, env, v)
	if err != nil {
		return Langpack{}, err
	}
	select {
	case generating <- struct{}{}:
		defer func() { <-generating }()
	case <-ctx.Done():
		return Langpack{}, ctx.Err()
	}
	// Another request may have stored it while this one waited.
	if l, err := s.store.Langpack(ctx, string(lang), env, v); !errors.Is(err, ErrNotFound) {
		return l, err
	}
	in, err := decodeLangpackInput(lv)
	if err != nil {
		return Langpack{}, err
	}
	pack, err := langpack.Generate(lang, in)
	if err != nil {
		return Langpack{}, fmt.Errorf("generate the %s langpack %s of %q (revision %d): %w", lang, v, env, lv.Revision, err)
	}
	l = Langpack{
		Language:         string(lang),
		Environment:      env,
		Version:          v,
		Revision:         lv.Revision,
		ContentHash:      pack.Manifest.ContentHash,
		GeneratorVersion: langpack.GeneratorVersion,
	}
	if l.Manifest, err = json.Marshal(pack.Manifest); err != nil {
		return Langpack{}, err
	}
	if l.Archive, err = pack.TarGz(); err != nil {
		return Langpack{}, fmt.Errorf("pack the %s langpack %s of %q: %w", lang, v, env, err)
	}
	return s.store.AddLangpack(ctx, l)
}

// langpackVersions lists the versions a language's pack exists at or can be
// generated at, oldest first: the environment's line (the current
// catalogue's version added first when new) and the packs of the language
// stored before semantic versions. Each is a Langpack without manifest and
// archive. An environment that may send nothing lists what was made before.
func (s *Service) langpackVersions(ctx context.Context, lang langpack.Language, env string) ([]Langpack, error) {
	if _, err := s.currentLangpackVersion(ctx, env); err != nil {
		var re *langpackRequestError
		if !errors.As(err, &re) {
			return nil, err
		}
	}
	line, err := s.store.ListLangpackVersions(ctx, env)
	if err != nil {
		return nil, err
	}
	stored, err := s.store.ListLangpacks(ctx, string(lang), env)
	if err != nil {
		return nil, err
	}
	var out []Langpack
	inLine := map[langpack.Version]bool{}
	for _, lv := range line {
		inLine[lv.Version] = true
		out = append(out, Langpack{Language: string(lang), Environment: env, Version: lv.Version, Revision: lv.Revision,
			GeneratorVersion: lv.GeneratorVersion, CreatedAt: lv.CreatedAt})
	}
	for _, l := range stored {
		if !inLine[l.Version] {
			l.Manifest = nil
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Langpack) int { return a.Version.Compare(b.Version) })
	return out, nil
}

// langpackInput reads what the environment's langpack is generated from:
// the versions it may send except retired ones, from one catalogue revision.
func (s *Service) langpackInput(ctx context.Context, env string) (langpack.Input, error) {
	for range 5 {
		versions, revs, err := s.store.AllowedVersions(ctx, env)
		if errors.Is(err, ErrNotFound) {
			return langpack.Input{}, s.unknownEnvironment(ctx, env)
		}
		if err != nil {
			return langpack.Input{}, err
		}
		events, revision, err := s.store.ListEvents(ctx, EventFilter{Environment: env})
		if err != nil {
			return langpack.Input{}, err
		}
		if revision != revs.Current {
			continue // the catalogue moved between the two reads
		}
		owners := make(map[uint32]string, len(events))
		for _, e := range events {
			owners[e.ID] = e.Owner.Team
		}
		in := langpack.Input{Environment: env, Revision: revs.Current}
		var names []string
		for _, v := range versions {
			if v.Status == LifecycleRetired {
				continue
			}
			names = append(names, v.MessageName)
			in.Events = append(in.Events, langpack.Event{
				ID:          v.EventID,
				Version:     v.Version,
				MessageName: v.MessageName,
				Description: v.Description,
				Deprecated:  v.Status == LifecycleDeprecated,
				OwnerTeam:   owners[v.EventID],
			})
		}
		if len(names) == 0 {
			return langpack.Input{}, &langpackRequestError{kind: ErrNotFound, msg: fmt.Sprintf(
				"environment %q may send no event version (or only retired ones), so it has no langpack; "+
					"allow versions with SetEventAccess (POST /v1/admin/environments/%s/access)", env, env)}
		}
		d, err := s.store.Descriptors(ctx, revs.Push)
		if err != nil {
			return langpack.Input{}, err
		}
		if in.Files, err = d.SchemaSet(names); err != nil {
			return langpack.Input{}, fmt.Errorf("schema set of environment %q: %w", env, err)
		}
		return in, nil
	}
	return langpack.Input{}, fmt.Errorf("read the catalogue of environment %q: it kept changing while read", env)
}

// unknownEnvironment is the error for an environment that does not exist,
// naming those that do.
func (s *Service) unknownEnvironment(ctx context.Context, env string) error {
	if env == "" {
		return &langpackRequestError{kind: ErrInvalid, msg: `environment is required: name the environment whose langpack you want, e.g. {"environment":"web"}`}
	}
	envs, err := s.store.ListEnvironments(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = e.Name
	}
	return &langpackRequestError{kind: ErrNotFound, msg: fmt.Sprintf("environment %q does not exist; environments: %s",
		env, strings.Join(names, ", "))}
}

// langpack returns a language's pack at a version, "latest" meaning the
// version of the current catalogue.
func (s *Service) langpack(ctx context.Context, language, env, version string) (Langpack, error) {
	for _, p := range [][2]string{{"language", language}, {"environment", env}, {"version", version}} {
		if err := checkName(p[0], p[1]); err != nil {
			return Langpack{}, invalidLangpackRequest(err)
		}
	}
	lang, err := langpack.ParseLanguage(language)
	if err != nil {
		return Langpack{}, &langpackRequestError{kind: ErrInvalid, msg: err.Error()}
	}
	v, err := parseLangpackVersion(version)
	if err != nil {
		return Langpack{}, &langpackRequestError{kind: ErrInvalid, msg: err.Error()}
	}
	if env == "" {
		return Langpack{}, s.unknownEnvironment(ctx, env)
	}
	if v.IsZero() {
		if v, err = s.currentLangpackVersion(ctx, env); err != nil {
			return Langpack{}, err
		}
		return s.langpackAt(ctx, lang, env, v)
	}
	l, err := s.langpackAt(ctx, lang, env, v)
	if !errors.Is(err, ErrNotFound) {
		return l, err
	}
	// Unknown version: say which exist.
	if _, err := s.store.GetEnvironment(ctx, env); errors.Is(err, ErrNotFound) {
		return Langpack{}, s.unknownEnvironment(ctx, env)
	}
	line, err := s.store.ListLangpackVersions(ctx, env)
	if err != nil {
		return Langpack{}, err
	}
	exists := `none yet; ask for "latest" to make the first`
	if len(line) > 0 {
		var names []string
		for _, lv := range line[max(0, len(line)-5):] {
			names = append(names, lv.Version.String())
		}
		exists = fmt.Sprintf("%d, the newest %s", len(line), strings.Join(names, ", "))
	}
	return Langpack{}, &langpackRequestError{kind: ErrNotFound, msg: fmt.Sprintf(
		"%s langpack version %s of environment %q does not exist; versions: %s", lang, v, env, exists)}
}

// langpackError maps a langpack error to a Connect error.
func langpackError(err error) error {
	var re *langpackRequestError
	if errors.As(err, &re) {
		code := connect.CodeNotFound
		if errors.Is(re.kind, ErrInvalid) {
			code = connect.CodeInvalidArgument
		}
		return connect.NewError(code, re)
	}
	return catalogueError(err)
}

// GetLangpack implements RegistryService.GetLangpack.
func (s *Service) GetLangpack(ctx context.Context, req *registryv1.GetLangpackRequest) (*registryv1.GetLangpackResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	l, err := s.langpack(ctx, req.GetLanguage(), strings.TrimSpace(req.GetEnvironment()), req.GetVersion())
	if err != nil {
		return nil, langpackError(err)
	}
	changes, err := s.langpackChanges(ctx, l.Environment)
	if err != nil {
		return nil, catalogueError(err)
	}
	info, err := langpackProto(l, changes)
	if err != nil {
		return nil, catalogueError(err)
	}
	return &registryv1.GetLangpackResponse{Langpack: info, Archive: l.Archive}, nil
}

// langpackChanges returns why each version of env's line was made.
func (s *Service) langpackChanges(ctx context.Context, env string) (map[langpack.Version]string, error) {
	line, err := s.store.ListLangpackVersions(ctx, env)
	if err != nil {
		return nil, err
	}
	changes := make(map[langpack.Version]string, len(line))
	for _, lv := range line {
		changes[lv.Version] = lv.Change
	}
	return changes, nil
}

// ListLangpacks implements RegistryService.ListLangpacks.
func (s *Service) ListLangpacks(ctx context.Context, req *registryv1.ListLangpacksRequest) (*registryv1.ListLangpacksResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	language := req.GetLanguage()
	if language != "" {
		lang, err := langpack.ParseLanguage(language)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		language = string(lang)
	}
	list, err := s.store.ListLangpacks(ctx, language, req.GetEnvironment())
	if err != nil {
		return nil, catalogueError(err)
	}
	resp := &registryv1.ListLangpacksResponse{}
	changes := map[string]map[langpack.Version]string{}
	for _, l := range list {
		if changes[l.Environment] == nil {
			if changes[l.Environment], err = s.langpackChanges(ctx, l.Environment); err != nil {
				return nil, catalogueError(err)
			}
		}
		info, err := langpackProto(l, changes[l.Environment])
		if err != nil {
			return nil, catalogueError(err)
		}
		resp.Langpacks = append(resp.Langpacks, info)
	}
	return resp, nil
}

// langpackProto is l as the API shows it; changes says why each version of
// its line was made.
func langpackProto(l Langpack, changes map[langpack.Version]string) (*registryv1.Langpack, error) {
	var m langpack.Manifest
	if err := json.Unmarshal(l.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decode the manifest of %s langpack %s of %q: %w", l.Language, l.Version, l.Environment, err)
	}
	return &registryv1.Langpack{
		Language:          l.Language,
		Environment:       l.Environment,
		PackageVersion:    l.PackageVersion(),
		CatalogueRevision: l.Revision,
		GeneratorVersion:  l.GeneratorVersion,
		ContentHash:       m.ContentHash,
		Events:            m.Events,
		CreatedAt:         timestamppb.New(l.CreatedAt),
		Change:            changes[l.Version],
	}, nil
}
