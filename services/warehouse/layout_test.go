package warehouse_test

import (
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/warehouse"
)

// The columns of the cart event across its versions follow the naming
// rules: flattened paths, a column per type for a field whose type changed,
// a numbered name on a clash with the envelope, a hashed suffix past 63
// bytes; and adding a version keeps every earlier name.
func TestTableColumnsAcrossVersions(t *testing.T) {
	v12 := warehouse.NewTable(9101, "CartUpdated", cartVersions(t, fixtureSchemas(t, "v12")))
	v123 := warehouse.NewTable(9101, "CartUpdated", cartVersions(t, fixtureSchemas(t, "v123")))
	if v123.Name != "cart_updated" {
		t.Errorf("table name %q, want cart_updated", v123.Name)
	}
	types := map[string]warehouse.ColumnType{}
	for _, c := range v123.Columns {
		types[c.Name] = c.Type
	}
	long := warehouse.Identifier("attribution_a_campaign_name_long_enough_to_push_the_column_name_past_the_postgres_limit")
	want := map[string]warehouse.ColumnType{
		"context_user_id":      warehouse.TypeText,
		"context_geo_latitude": warehouse.TypeDouble,
		"context_platform":     warehouse.TypeText,
		"context_occurred_at":  warehouse.TypeTimestamptz,
		"status":               warehouse.TypeText,
		"items":                warehouse.TypeJSONB,
		"attributes":           warehouse.TypeJSONB,
		"updated_at":           warehouse.TypeTimestamptz,
		"email":                warehouse.TypeText,
		"total_minor":          warehouse.TypeNumeric,
		"token":                warehouse.TypeBytea,
		"quantity":             warehouse.TypeInteger,
		"quantity_bigint":      warehouse.TypeBigint,
		"coupon":               warehouse.TypeText,
		"channel":              warehouse.TypeText,
		"user_id_2":            warehouse.TypeText,
		long:                   warehouse.TypeText,
	}
	for name, typ := range want {
		if types[name] != typ {
			t.Errorf("column %s: type %q, want %q", name, types[name], typ)
		}
	}
	if len(long) != 63 || !strings.HasPrefix(long, "attribution_a_campaign_name_long_enough_to_push_the_co_") {
		t.Errorf("long name %q (%d bytes): want 54 bytes of the name, _ and 8 hex digits", long, len(long))
	}
	for i, c := range v12.Columns {
		if v123.Columns[i] != c {
			t.Errorf("column %d changed with version 3: %+v, was %+v", i, v123.Columns[i], c)
		}
	}
	t.Logf("versions 1-2: %d field columns; 1-3: %d", len(v12.Columns), len(v123.Columns))
}

func TestIdentifier(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"item_view", "item_view"},
		{"Context_Geo", "context_geo"},
		{"9lives", "_9lives"},
		{"a-b", "a_b"},
		{strings.Repeat("x", 63), strings.Repeat("x", 63)},
	} {
		if got := warehouse.Identifier(tc.in); got != tc.want {
			t.Errorf("Identifier(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	a, b := warehouse.Identifier(strings.Repeat("x", 64)), warehouse.Identifier(strings.Repeat("x", 63)+"y")
	if len(a) != 63 || len(b) != 63 || a == b {
		t.Errorf("long names %q and %q: want distinct 63-byte identifiers", a, b)
	}
}
