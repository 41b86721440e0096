package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// Langpack is one stored langpack version of one (language, environment).
// A stored version never changes.
type Langpack struct {
	Language    string
	Environment string
	// Version is N; the native packages are version 1.N.0.
	Version int
	// Revision is the catalogue revision the version was generated at.
	Revision uint64
	// ContentHash identifies the content: the manifest's content hash of
	// the pack generated at version 0 and revision 0, so neither number
	// alone makes content new. The manifest carries the pack's own.
	ContentHash      string
	GeneratorVersion string
	// Manifest is the langpack.Manifest as JSON.
	Manifest []byte
	// Archive is the tar.gz served for the version; empty in lists.
	Archive   []byte
	CreatedAt time.Time
}

// PackageVersion is the version of the langpack's native packages.
func (l Langpack) PackageVersion() string { return langpack.PackageVersion(l.Version) }

// ErrLangpackMoved is returned by AddLangpack when another version was
// stored since the caller read the newest: generate again.
var ErrLangpackMoved = errors.New("another langpack version was stored meanwhile")

// LangpackStore keeps generated langpacks, immutably.
type LangpackStore interface {
	// LangpackAt returns the langpack version generated for a catalogue
	// revision with a generator version, or ErrNotFound when none was.
	LangpackAt(ctx context.Context, language, environment string, revision uint64, generator string) (int, error)
	// Langpack returns one stored version with its archive, the newest when
	// version is 0, or ErrNotFound.
	Langpack(ctx context.Context, language, environment string, version int) (Langpack, error)
	// ListLangpacks lists stored versions without archives, by language,
	// environment and version; empty filters match all.
	ListLangpacks(ctx context.Context, language, environment string) ([]Langpack, error)
	// AddLangpack stores l as the next version, unless the newest stored
	// version has the same content hash, which it returns instead. Either
	// way it records that l.Revision yields the returned version. When the
	// newest stored version is not l.Version-1 it fails with
	// ErrLangpackMoved.
	AddLangpack(ctx context.Context, l Langpack) (Langpack, error)
}

// latestVersion is how requests name the newest langpack version.
const latestVersion = "latest"

// parseLangpackVersion parses "latest" (or "") as 0, or a version N ≥ 1.
func parseLangpackVersion(s string) (int, error) {
	if s == "" || s == latestVersion {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("langpack version %q is not a version: use a number such as 1, or %q", s, latestVersion)
	}
	return n, nil
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

// ensureLangpack returns the langpack of the environment's current
// catalogue, generating and storing it as a new version when its content
// differs from the newest stored one.
func (s *Service) ensureLangpack(ctx context.Context, lang langpack.Language, env string) (Langpack, error) {
	for range 5 {
		l, err := s.tryEnsureLangpack(ctx, lang, env)
		if errors.Is(err, ErrLangpackMoved) {
			continue
		}
		return l, err
	}
	return Langpack{}, fmt.Errorf("generate the %s langpack of %q: versions kept being stored concurrently: %w", lang, env, ErrLangpackMoved)
}

func (s *Service) tryEnsureLangpack(ctx context.Context, lang langpack.Language, env string) (Langpack, error) {
	in, err := s.langpackInput(ctx, env)
	if err != nil {
		return Langpack{}, err
	}
	n, err := s.store.LangpackAt(ctx, string(lang), env, in.Revision, langpack.GeneratorVersion)
	if err == nil {
		return s.store.Langpack(ctx, string(lang), env, n)
	}
	if !errors.Is(err, ErrNotFound) {
		return Langpack{}, err
	}

	// Hash the content as generated at version 0 and revision 0, so that
	// neither number alone makes content new, and compare with the newest.
	probeInput := in
	probeInput.Revision = 0
	probe, err := langpack.Generate(lang, probeInput)
	if err != nil {
		return Langpack{}, fmt.Errorf("generate the %s langpack of %q (revision %d): %w", lang, env, in.Revision, err)
	}
	latest, err := s.store.Langpack(ctx, string(lang), env, 0)
	switch {
	case errors.Is(err, ErrNotFound):
		latest = Langpack{}
	case err != nil:
		return Langpack{}, err
	}
	candidate := Langpack{
		Language:         string(lang),
		Environment:      env,
		Version:          latest.Version + 1,
		Revision:         in.Revision,
		ContentHash:      probe.Manifest.ContentHash,
		GeneratorVersion: langpack.GeneratorVersion,
	}
	if latest.Version == 0 || latest.ContentHash != probe.Manifest.ContentHash {
		in.Version = langpack.Version{Major: 1, Minor: candidate.Version}
		pack, err := langpack.Generate(lang, in)
		if err != nil {
			return Langpack{}, fmt.Errorf("generate %s langpack %d of %q (revision %d): %w", lang, in.Version, env, in.Revision, err)
		}
		if candidate.Manifest, err = json.Marshal(pack.Manifest); err != nil {
			return Langpack{}, err
		}
		if candidate.Archive, err = pack.TarGz(); err != nil {
			return Langpack{}, fmt.Errorf("pack %s langpack %d of %q: %w", lang, in.Version, env, err)
		}
	}
	// With an equal hash AddLangpack returns the newest and records the
	// revision against it.
	return s.store.AddLangpack(ctx, candidate)
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

// langpack returns a stored version, 0 meaning the newest for the current
// catalogue.
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
	n, err := parseLangpackVersion(version)
	if err != nil {
		return Langpack{}, &langpackRequestError{kind: ErrInvalid, msg: err.Error()}
	}
	if env == "" {
		return Langpack{}, s.unknownEnvironment(ctx, env)
	}
	if n == 0 {
		return s.ensureLangpack(ctx, lang, env)
	}
	l, err := s.store.Langpack(ctx, string(lang), env, n)
	if !errors.Is(err, ErrNotFound) {
		return l, err
	}
	// Unknown version: say which exist.
	if _, err := s.store.GetEnvironment(ctx, env); errors.Is(err, ErrNotFound) {
		return Langpack{}, s.unknownEnvironment(ctx, env)
	}
	list, err := s.store.ListLangpacks(ctx, string(lang), env)
	if err != nil {
		return Langpack{}, err
	}
	exists := "none yet; ask for \"latest\" to generate version 1"
	if len(list) > 0 {
		exists = fmt.Sprintf("1 to %d (latest %d)", list[len(list)-1].Version, list[len(list)-1].Version)
	}
	return Langpack{}, &langpackRequestError{kind: ErrNotFound, msg: fmt.Sprintf(
		"%s langpack version %d of environment %q does not exist; versions: %s", lang, n, env, exists)}
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
	info, err := langpackProto(l)
	if err != nil {
		return nil, catalogueError(err)
	}
	return &registryv1.GetLangpackResponse{Langpack: info, Archive: l.Archive}, nil
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
	for _, l := range list {
		info, err := langpackProto(l)
		if err != nil {
			return nil, catalogueError(err)
		}
		resp.Langpacks = append(resp.Langpacks, info)
	}
	return resp, nil
}

func langpackProto(l Langpack) (*registryv1.Langpack, error) {
	var m langpack.Manifest
	if err := json.Unmarshal(l.Manifest, &m); err != nil {
		return nil, fmt.Errorf("decode the manifest of %s langpack %d of %q: %w", l.Language, l.Version, l.Environment, err)
	}
	return &registryv1.Langpack{
		Language:          l.Language,
		Environment:       l.Environment,
		Version:           uint32(l.Version),
		PackageVersion:    l.PackageVersion(),
		CatalogueRevision: l.Revision,
		GeneratorVersion:  l.GeneratorVersion,
		ContentHash:       m.ContentHash,
		Events:            m.Events,
		CreatedAt:         timestamppb.New(l.CreatedAt),
	}, nil
}
