package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	sqlInsertEnvironment = `
		INSERT INTO registry.environments (name, description) VALUES ($1, $2)
		ON CONFLICT (name) DO NOTHING
		RETURNING created_at`
	sqlGetEnvironment    = `SELECT name, description, created_at FROM registry.environments WHERE name = $1`
	sqlListEnvironments  = `SELECT name, description, created_at FROM registry.environments ORDER BY name`
	sqlEnvironmentAccess = `
		SELECT a.environment, a.event_id, a.version, v.message_name
		FROM registry.environment_access a
		JOIN registry.event_versions v ON v.event_id = a.event_id AND v.version = a.version
		WHERE ($1 = '' OR a.environment = $1)
		ORDER BY a.environment, a.event_id, a.version`
	sqlAllowedVersions = `
		SELECT version FROM registry.environment_access
		WHERE environment = $1 AND event_id = $2 ORDER BY version`
	sqlAllowVersions = `
		INSERT INTO registry.environment_access (environment, event_id, version)
		SELECT $1, $2, unnest($3::integer[])
		ON CONFLICT DO NOTHING`
	sqlDenyVersions = `
		DELETE FROM registry.environment_access
		WHERE environment = $1 AND event_id = $2 AND version = ANY($3::integer[])`
)

// environmentState is an environment as the audit records its creation.
type environmentState struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// accessState is what the audit records of an access change: the versions
// of one event the environment may send.
type accessState struct {
	EventID  uint32   `json:"event_id"`
	Versions []uint32 `json:"versions"`
}

// CreateEnvironment implements Store.
func (s *PostgresStore) CreateEnvironment(ctx context.Context, name, description, actor string) (_ Environment, err error) {
	defer derrors.Wrap(&err, "create environment %q", name)
	if err := checkEnvironmentName(name); err != nil {
		return Environment{}, err
	}
	if err := checkActor(actor); err != nil {
		return Environment{}, err
	}
	env := Environment{Name: name, Description: description}
	err = s.changeMetadata(ctx, func(tx pgx.Tx) (*metadataChange, error) {
		err := tx.QueryRow(ctx, sqlInsertEnvironment, name, description).Scan(&env.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, existsf("environment %q already exists; pick another name, or change what it may send with SetEventAccess", name)
		}
		if err != nil {
			return nil, err
		}
		return &metadataChange{
			actor:    actor,
			action:   actionCreateEnvironment,
			entity:   environmentEntity(name),
			after:    environmentState{Name: name, Description: description},
			revision: fmt.Sprintf("create environment %s", name),
		}, nil
	})
	if err != nil {
		return Environment{}, err
	}
	return env, nil
}

// ListEnvironments implements Store.
func (s *PostgresStore) ListEnvironments(ctx context.Context) (envs []Environment, err error) {
	defer derrors.Wrap(&err, "list environments")
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlListEnvironments)
		if err != nil {
			return err
		}
		envs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Environment, error) {
			var e Environment
			return e, row.Scan(&e.Name, &e.Description, &e.CreatedAt)
		})
		if err != nil {
			return err
		}
		return addAllowed(ctx, tx, "", envs)
	})
	return envs, err
}

// GetEnvironment implements Store.
func (s *PostgresStore) GetEnvironment(ctx context.Context, name string) (_ Environment, err error) {
	defer derrors.Wrap(&err, "get environment %q", name)
	var env Environment
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		env, err = environment(ctx, tx, name)
		return err
	})
	return env, err
}

// SetEventAccess implements Store.
func (s *PostgresStore) SetEventAccess(ctx context.Context, c AccessChange) (_ Environment, err error) {
	verb := "deny"
	if c.Allowed {
		verb = "allow"
	}
	defer derrors.Wrap(&err, "%s event %d v%d in environment %q", verb, c.EventID, c.Version, c.Environment)
	if err := checkActor(c.Actor); err != nil {
		return Environment{}, err
	}
	if c.Environment == "" {
		return Environment{}, invalidf("environment is required: name the environment to %s event %d in, e.g. \"web\"", verb, c.EventID)
	}
	if c.EventID == 0 {
		return Environment{}, invalidf("event_id is required: name the event to %s in environment %q, e.g. 2001", verb, c.Environment)
	}
	var env Environment
	err = s.changeMetadata(ctx, func(tx pgx.Tx) (*metadataChange, error) {
		var err error
		if env, err = environment(ctx, tx, c.Environment); err != nil {
			return nil, err
		}
		versions, err := registeredVersions(ctx, tx, c.EventID)
		if err != nil {
			return nil, err
		}
		targets := versions
		if c.Version != 0 {
			i := slices.IndexFunc(versions, func(r EventVersionRef) bool { return r.Version == c.Version })
			if i < 0 {
				return nil, noSuchVersion(c.EventID, c.Version, versions)
			}
			targets = versions[i : i+1]
		}
		rows, err := tx.Query(ctx, sqlAllowedVersions, c.Environment, int64(c.EventID))
		if err != nil {
			return nil, err
		}
		before, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
		if err != nil {
			return nil, err
		}
		// changed lists the targets whose access this change flips.
		var (
			changed []int32
			names   []string
		)
		for _, t := range targets {
			if slices.Contains(before, t.Version) != c.Allowed {
				changed = append(changed, int32(t.Version))
				names = append(names, shortName(t.MessageName))
			}
		}
		if len(changed) == 0 {
			return nil, nil
		}
		sql, message := sqlDenyVersions, fmt.Sprintf("%s may no longer send %s", c.Environment, strings.Join(names, ", "))
		if c.Allowed {
			sql, message = sqlAllowVersions, fmt.Sprintf("%s may send %s", c.Environment, strings.Join(names, ", "))
		}
		if _, err := tx.Exec(ctx, sql, c.Environment, int64(c.EventID), changed); err != nil {
			return nil, err
		}
		if env, err = environment(ctx, tx, c.Environment); err != nil {
			return nil, err
		}
		after := []uint32{}
		for _, r := range env.Allowed {
			if r.EventID == c.EventID {
				after = append(after, r.Version)
			}
		}
		if before == nil {
			before = []uint32{}
		}
		return &metadataChange{
			actor:    c.Actor,
			action:   actionSetAccess,
			entity:   environmentEntity(c.Environment),
			before:   accessState{EventID: c.EventID, Versions: before},
			after:    accessState{EventID: c.EventID, Versions: after},
			revision: message,
		}, nil
	})
	if err != nil {
		return Environment{}, err
	}
	return env, nil
}

// environment reads one environment and what it may send, or returns a
// not-found error naming it.
func environment(ctx context.Context, tx pgx.Tx, name string) (Environment, error) {
	var e Environment
	err := tx.QueryRow(ctx, sqlGetEnvironment, name).Scan(&e.Name, &e.Description, &e.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Environment{}, notFoundf("environment %q does not exist; list environments with GET /v1/environments, "+
			"or create it with CreateEnvironment (POST /v1/admin/environments)", name)
	}
	if err != nil {
		return Environment{}, err
	}
	envs := []Environment{e}
	if err := addAllowed(ctx, tx, name, envs); err != nil {
		return Environment{}, err
	}
	return envs[0], nil
}

// addAllowed fills the allowed versions of envs: of the one named, or of
// all when name is empty.
func addAllowed(ctx context.Context, tx pgx.Tx, name string, envs []Environment) error {
	index := make(map[string]int, len(envs))
	for i, e := range envs {
		index[e.Name] = i
	}
	rows, err := tx.Query(ctx, sqlEnvironmentAccess, name)
	if err != nil {
		return err
	}
	var (
		env string
		r   EventVersionRef
	)
	_, err = pgx.ForEachRow(rows, []any{&env, &r.EventID, &r.Version, &r.MessageName}, func() error {
		if i, ok := index[env]; ok {
			envs[i].Allowed = append(envs[i].Allowed, r)
		}
		return nil
	})
	return err
}
