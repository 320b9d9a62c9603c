package fields_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/herald-ci/herald/internal/fields"
	"github.com/herald-ci/herald/sources/sourcestest"
)

// docSpec is the example of TeamCity's webhook documentation ("Customize
// Request Payloads"), as the parameter value carries it.
const docSpec = "fields=buildTypeId,number,canceledInfo(user(username))"

// payload returns the "payload" member of a TeamCity envelope, as sent.
func payload(t testing.TB, envelope []byte) json.RawMessage {
	t.Helper()
	var env struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil || len(env.Payload) == 0 {
		t.Fatalf("not a TeamCity envelope: %v", err)
	}
	return env.Payload
}

func compact(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %s: %v", b, err)
	}
	return buf.Bytes()
}

func replaceOnce(t testing.TB, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times in the fixture, want 1", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

var canceledBy = regexp.MustCompile(`("canceledInfo": \{[^}]*"user": \{\s*"username": )"admin"`)

// docInput is the full BUILD_INTERRUPTED payload TeamCity's documented
// example must have been projected from. The documentation shows only the
// result, so the input is the real interrupted fixture carrying the
// documentation's values: buildTypeId GhAppMaven_Build, number 43, canceled
// by JohnDoe. Every other member (buildType.id, triggered.user, ...) stays
// as captured, so the projection has to drop them.
func docInput(t testing.TB) json.RawMessage {
	t.Helper()
	s := string(sourcestest.Body(t, "teamcity-build-interrupted"))
	s = replaceOnce(t, s, `"buildTypeId": "SampleProject_Build"`, `"buildTypeId": "GhAppMaven_Build"`)
	s = replaceOnce(t, s, `"number": "2009"`, `"number": "43"`)
	if n := len(canceledBy.FindAllStringIndex(s, -1)); n != 1 {
		t.Fatalf("canceledInfo.user.username found %d times", n)
	}
	s = canceledBy.ReplaceAllString(s, `$1"JohnDoe"`)
	return payload(t, []byte(s))
}

// TestApplyDocExample: TeamCity's documented example gives exactly the
// documented JSON (teamcity-build-interrupted-custom-fields.json, copied
// verbatim from the documentation), byte for byte once compacted.
func TestApplyDocExample(t *testing.T) {
	t.Parallel()
	want := compact(t, payload(t, sourcestest.Body(t, "teamcity-build-interrupted-custom-fields")))
	for _, spec := range []string{
		docSpec,
		strings.TrimPrefix(docSpec, fields.Prefix),
		"fields=canceledInfo(user(username)),number,buildTypeId", // order plays no role
		"  fields=buildTypeId,\n  number,\n  canceledInfo( user( username ) )\n",
		"buildTypeId,number,canceledInfo:(user:username)",
	} {
		sel, err := fields.Parse(spec)
		if err != nil {
			t.Fatalf("Parse(%q): %v", spec, err)
		}
		got, err := sel.Apply(docInput(t))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Parse(%q).Apply:\n got %s\nwant %s", spec, got, want)
		}
	}
}

// TestApplyFixtures: selections on the real payloads; the expected JSON is
// written by hand from the fixture.
func TestApplyFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fixture, spec, want string
	}{
		{
			name:    "doc selection on the captured interrupted build",
			fixture: "teamcity-build-interrupted",
			spec:    docSpec,
			want:    `{"buildTypeId":"SampleProject_Build","number":"2009","canceledInfo":{"user":{"username":"admin"}}}`,
		},
		{
			// The teamcity-webhooks README example. leftSeconds is not in
			// the payload TeamCity sent: silently absent.
			name:    "running-info, a missing field",
			fixture: "teamcity-build-started",
			spec:    "fields=id,buildTypeId,number,running-info(percentageComplete,elapsedSeconds,estimatedTotalSeconds,leftSeconds,currentStageText)",
			want:    `{"id":901,"buildTypeId":"SampleProject_Build","number":"2031","running-info":{"percentageComplete":0,"elapsedSeconds":0,"estimatedTotalSeconds":586,"currentStageText":""}}`,
		},
		{
			name:    "collection: the selection applies to every element",
			fixture: "teamcity-build-interrupted",
			spec:    "lastChanges(count,change(id,version)),revisions(revision(version,vcs-root-instance(vcs-root-id)))",
			want:    `{"lastChanges":{"count":1,"change":[{"id":11,"version":"29"}]},"revisions":{"revision":[{"version":"29","vcs-root-instance":{"vcs-root-id":"SampleProject_MainDepot"}}]}}`,
		},
		{
			// The payload has property before count: its order is kept.
			name:    "payload order, not spec order",
			fixture: "teamcity-build-started",
			spec:    "properties(count,property(value,name))",
			want:    `{"properties":{"property":[{"name":"env.ARTIFACT_DIR","value":"C:\\BuildArtifacts\\Sample\\PC"}],"count":11}}`,
		},
		{
			name:    "a field without a selection is kept whole",
			fixture: "teamcity-build-finished",
			spec:    "triggered",
			want:    `{"triggered":{"type":"schedule","date":"20250812T000012-0300"}}`,
		},
		{
			name:    "star with a nested selection and a dropped field",
			fixture: "teamcity-agent-registered",
			spec:    "*,properties:-,pool(name),enabledInfo(-),authorizedInfo(-)",
			want: `{"id":3,"name":"agent-linux-01","typeId":3,"connected":true,"enabled":true,"authorized":true,"uptodate":true,` +
				`"ip":"10.0.12.34","host":"agent-linux-01.example.internal","cpuRank":912,"port":9090,"href":"/app/rest/agents/id:3",` +
				`"webUrl":"http://localhost:8111/agentDetails.html?id=3&agentTypeId=3&realAgentName=agent-linux-01","pool":{"name":"Linux agents"}}`,
		},
		{
			name:    "only missing fields",
			fixture: "teamcity-build-started",
			spec:    "finishDate,canceledInfo(user)",
			want:    `{}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := fields.MustParse(tc.spec).Apply(payload(t, sourcestest.Body(t, tc.fixture)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Apply(%q):\n got %s\nwant %s", tc.spec, got, tc.want)
			}
		})
	}
}

// TestApply: the projection rules on small documents.
func TestApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec, in, want string
	}{
		{"flat", "a,c", `{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`},
		{"nested", "a(b(c))", `{"a":{"b":{"c":1,"d":2},"e":3},"f":4}`, `{"a":{"b":{"c":1}}}`},
		{"colon forms", "a:b:c,x:(y)", `{"a":{"b":{"c":1,"d":2}},"x":{"y":1,"z":2}}`, `{"a":{"b":{"c":1}},"x":{"y":1}}`},
		{"missing fields are absent", "a,zz,b(zz)", `{"a":1,"b":{"c":2}}`, `{"a":1,"b":{}}`},
		{"explicit null, false, 0 are kept", "a,b,c,d", `{"a":null,"b":false,"c":0,"d":""}`, `{"a":null,"b":false,"c":0,"d":""}`},
		{"star is every field, whole", "*", `{"a":{"x":1},"b":[1,2]}`, `{"a":{"x":1},"b":[1,2]}`},
		{"double star and $long are star", "**", `{"a":{"x":1}}`, `{"a":{"x":1}}`},
		{"$long", "$long,b(y)", `{"a":{"x":1},"b":{"y":1,"z":2}}`, `{"a":{"x":1},"b":{"y":1}}`},
		{"star at a nested level", "a(*)", `{"a":{"x":1,"y":{"z":2}},"b":1}`, `{"a":{"x":1,"y":{"z":2}}}`},
		{"star beside a selection", "*,a(x)", `{"a":{"x":1,"y":2},"b":3}`, `{"a":{"x":1},"b":3}`},
		{"dropped field", "*,b:-", `{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`},
		{"dropped field in parentheses", "*,b(-)", `{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`},
		{"none but the named", "-,b", `{"a":1,"b":2}`, `{"b":2}`},
		{"none wins over star", "*,-", `{"a":1}`, `{}`},
		{"collection", "count,build(number)", `{"count":2,"build":[{"number":"1","x":0},{"number":"2"}]}`, `{"count":2,"build":[{"number":"1"},{"number":"2"}]}`},
		{"top-level array", "a", `[{"a":1,"b":2},{"b":3},7,null]`, `[{"a":1},{},7,null]`},
		{"array of arrays", "a(b)", `{"a":[[{"b":1,"c":2}],[]]}`, `{"a":[[{"b":1}],[]]}`},
		{"selection on a scalar keeps it", "a(b),c(d)", `{"a":"text","c":null}`, `{"a":"text","c":null}`},
		{"scalar at the top", "a", `42`, `42`},
		{"payload order, not spec order", "c,a", `{"a":1,"b":2,"c":3}`, `{"a":1,"c":3}`},
		{"numbers keep their spelling", "a,b,c,d", `{"a":1.0,"b":1e3,"c":12345678901234567890123,"d":-0.000}`, `{"a":1.0,"b":1e3,"c":12345678901234567890123,"d":-0.000}`},
		{"strings and keys keep their escapes", "k,ab", `{"k":"\u00e9<a>\/\"","a\u0062":"\ud83d\ude00","x":1}`, `{"k":"\u00e9<a>\/\"","a\u0062":"\ud83d\ude00"}`},
		{"brackets inside strings", "b", `{"a":"}{][,\"","b":"]","c":["}"]}`, `{"b":"]"}`},
		{"duplicate keys are each kept", "a", `{"a":1,"a":2}`, `{"a":1,"a":2}`},
		{"whitespace in the input", "a(b)", " {\n \"a\" : { \"b\" : [ 1 , 2 ] } ,\t\"c\":3 }\n", `{"a":{"b":[1,2]}}`},
		{"unicode names", "größe,ключ", `{"größe":1,"ключ":2,"x":3}`, `{"größe":1,"ключ":2}`},
		{"app center keys", "build_status,branch", `{"app_name":"x","branch":"main","build_status":"Succeeded"}`, `{"branch":"main","build_status":"Succeeded"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sel, err := fields.Parse(tc.spec)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.spec, err)
			}
			got, err := sel.Apply(json.RawMessage(tc.in))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("Parse(%q).Apply(%s)\n got %s\nwant %s", tc.spec, tc.in, got, tc.want)
			}
		})
	}
}

// TestApplyStarIsIdentity: "*" (and the zero Selector) give every fixture,
// and every TeamCity payload, back as it came, compacted.
func TestApplyStarIsIdentity(t *testing.T) {
	t.Parallel()
	star := fields.MustParse("fields=*")
	for _, f := range sourcestest.Fixtures() {
		for _, sel := range []fields.Selector{star, {}} {
			got, err := sel.Apply(f.Body)
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			if want := compact(t, f.Body); !bytes.Equal(got, want) {
				t.Errorf("%s: Apply(*) changed the body:\n got %s\nwant %s", f.Name, got, want)
			}
		}
	}
}

func TestApplyInvalidJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, ` `, `{`, `{"a":1,}`, `{"a":1} {"b":2}`, `nul`, `{"a" 1}`, `[1,]`} {
		if got, err := fields.MustParse("a").Apply(json.RawMessage(in)); err == nil {
			t.Errorf("Apply(%q) = %s, want an error", in, got)
		}
	}
}

// TestParse: what parses, shown in canonical form.
func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{docSpec, "buildTypeId,number,canceledInfo(user(username))"},
		{"buildTypeId", "buildTypeId"},
		{"  fields=a , b ( c ,d ) ", "a,b(c,d)"},
		{"fields=a,\n\tb(\n\t\tc)\n", "a,b(c)"},
		{"a:b", "a(b)"},
		{"a:(b,c)", "a(b,c)"},
		{"a: (b)", "a(b)"},
		{"a:b:c,d", "a(b(c)),d"},
		{"a:b(c),d", "a(b(c)),d"},
		{"*", "*"},
		{"**", "*"},
		{"$long", "*"},
		{"-", "-"},
		{"$long,changes(count,href)", "*,changes(count,href)"},
		{"*,properties:-", "*,properties(-)"},
		{"a(-)", "a(-)"},
		{"a(-,b)", "a(-,b)"},
		{"vcsLabels:$long", "vcsLabels(*)"},
		{"id,running-info(leftSeconds),vcs-root-instance", "id,running-info(leftSeconds),vcs-root-instance"},
		{"build_status,app.name,9", "build_status,app.name,9"},
		{"fields=count,build(number,status,statusText,agent,lastChange,tags,pinned)", "count,build(number,status,statusText,agent,lastChange,tags,pinned)"},
		{"*,**,$long", "*"},
		{strings.Repeat("a(", fields.MaxDepth) + "b" + strings.Repeat(")", fields.MaxDepth), strings.Repeat("a(", fields.MaxDepth) + "b" + strings.Repeat(")", fields.MaxDepth)},
	} {
		sel, err := fields.Parse(tc.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		if got := sel.String(); got != tc.want {
			t.Errorf("Parse(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

// TestParseErrors: malformed selections fail with the position and what
// was expected there.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("a(", fields.MaxDepth+1) + "b" + strings.Repeat(")", fields.MaxDepth+1)
	for _, tc := range []struct {
		spec string
		pos  int
		msg  string
	}{
		{"", 1, `expected a field name, found end of input`},
		{"   ", 4, `expected a field name, found end of input`},
		{"fields=", 8, `expected a field name, found end of input`},
		{"fields=fields=a", 14, `expected ',' or end of input, found '='`},
		{",a", 1, `expected a field name, found ','`},
		{"a,", 3, `expected a field name, found end of input`},
		{"a,,b", 3, `expected a field name, found ','`},
		{"a b", 3, `expected ',' or end of input, found 'b'`},
		{"a;b", 2, `expected ',' or end of input, found ';'`},
		{"a)", 2, `found ')' without a matching '('`},
		{"(a)", 1, `expected a field name, found '('`},
		{"a()", 3, `expected a field name, found ')'`},
		{"a(b", 4, `expected ',' or ')' to close '(' at position 2, found end of input`},
		{"fields=buildTypeId,canceledInfo(user(username)", 47, `expected ',' or ')' to close '(' at position 32, found end of input`},
		{"a(b))", 5, `found ')' without a matching '('`},
		{"a(b)c", 5, `expected ',' or end of input, found 'c'`},
		{"a:", 3, `expected a selection for "a" after ':' at position 2, found end of input`},
		{"a:,b", 3, `expected a selection for "a" after ':' at position 2, found ','`},
		{"a(b:)", 5, `expected a selection for "b" after ':' at position 4, found ')'`},
		{"a,a", 3, `field "a" is selected twice (first at position 1)`},
		{"x,b(c,d(e),c)", 12, `field "c" is selected twice (first at position 5)`},
		{"*,*", 3, `"*" is given twice (first at position 1)`},
		{"*(a)", 1, `"*" takes no selection of its own`},
		{"-:a", 1, `"-" takes no selection of its own`},
		{"a,$short", 3, `"$short" (TeamCity's reference form) is not supported: herald has only the JSON TeamCity sent; list the fields instead`},
		{"a:$optional", 3, `"$optional" is not supported: herald cannot tell which fields are cheap for TeamCity to compute; list the fields instead`},
		{"builds($locator(running:false),build(number))", 8, `"$locator" is not supported: herald cannot filter a collection with a TeamCity locator; set it in TeamCity's own fields parameter instead`},
		{"$help", 1, `unknown special name "$help" (known: *, **, $long, -)`},
		{"$", 1, `expected a field name, found '$'`},
		{"***", 3, `expected ',' or end of input, found '*'`},
		{"größe)", 6, `found ')' without a matching '('`},
		{deep, 2*fields.MaxDepth + 2, `selection nested deeper than 32 levels`},
	} {
		_, err := fields.Parse(tc.spec)
		var fe *fields.Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %v, want a *fields.Error", tc.spec, err)
			continue
		}
		if fe.Pos != tc.pos || fe.Msg != tc.msg || fe.Spec != tc.spec {
			t.Errorf("Parse(%q):\n got position %d: %s\nwant position %d: %s", tc.spec, fe.Pos, fe.Msg, tc.pos, tc.msg)
		}
		if err := fields.Validate(tc.spec); err == nil || err.Error() != fe.Error() {
			t.Errorf("Validate(%q) = %v, want %v", tc.spec, err, fe)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := fields.Parse("a(b")
	if want := `position 4 in "a(b": expected ',' or ')' to close '(' at position 2, found end of input`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestParseAll(t *testing.T) {
	t.Parallel()
	got, err := fields.ParseAll(map[string]string{"BUILD_INTERRUPTED": docSpec, "BUILD_STARTED": "id"})
	if err != nil || len(got) != 2 || got["BUILD_INTERRUPTED"].String() != "buildTypeId,number,canceledInfo(user(username))" || got["BUILD_STARTED"].String() != "id" {
		t.Errorf("ParseAll = %v, %v", got, err)
	}
	if got, err := fields.ParseAll(nil); got != nil || err != nil {
		t.Errorf("ParseAll(nil) = %v, %v", got, err)
	}
	_, err = fields.ParseAll(map[string]string{"BUILD_STARTED": "id", "BUILD_INTERRUPTED": "a(", "AGENT_REMOVED": "", " ": "a"})
	want := `fields: an event type is empty` + "\n" +
		`fields.AGENT_REMOVED: position 1 in "": expected a field name, found end of input` + "\n" +
		`fields.BUILD_INTERRUPTED: position 3 in "a(": expected a field name, found end of input`
	if err == nil || err.Error() != want {
		t.Errorf("ParseAll error:\n got %v\nwant %s", err, want)
	}
}

// seedSpecs are the selections the fuzz targets start from.
var seedSpecs = []string{
	docSpec, "*", "**", "$long", "-", "*,properties:-", "-,id", "a:b:c", "a:(b,c)",
	"fields=id,buildTypeId,number,running-info(percentageComplete,elapsedSeconds,estimatedTotalSeconds,leftSeconds,currentStageText)",
	"count,build(number,status,statusText,agent,lastChange,tags,pinned)",
	"lastChanges(count,change(id,version))", "a(b", "a)", "$locator(x)", " fields= a ,\n b ",
}

func FuzzParse(f *testing.F) {
	for _, s := range seedSpecs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sel, err := fields.Parse(spec)
		if err != nil {
			var fe *fields.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q): error %T %v is not a *fields.Error", spec, err, err)
			}
			if fe.Pos < 1 || fe.Pos > len([]rune(spec))+1 || fe.Spec != spec {
				t.Fatalf("Parse(%q): position %d out of range", spec, fe.Pos)
			}
			return
		}
		canon := sel.String()
		again, err := fields.Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", spec, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form is not stable: %q -> %q", canon, again.String())
		}
	})
}

func FuzzApply(f *testing.F) {
	for _, fx := range sourcestest.Fixtures() {
		for _, s := range []string{docSpec, "*", "*,payload(*,properties:-)", "payload(buildTypeId,lastChanges(change(id)))"} {
			f.Add(s, fx.Body)
		}
	}
	f.Add("a(b)", []byte(`[{"a":{"b":"\u00e9","c":1e3}},{"a\u0062":2}]`))
	star := fields.MustParse("*")
	f.Fuzz(func(t *testing.T, spec string, in []byte) {
		whole, err := star.Apply(in)
		if valid := json.Valid(in); (err == nil) != valid {
			t.Fatalf("Apply(*) error %v for input valid=%v", err, valid)
		}
		if err != nil {
			return
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, in)
		if !bytes.Equal(whole, buf.Bytes()) {
			t.Fatalf("Apply(*) = %s, want the input compacted %s", whole, buf.Bytes())
		}
		sel, err := fields.Parse(spec)
		if err != nil {
			return
		}
		got, err := sel.Apply(in)
		if err != nil {
			t.Fatalf("Apply(%q) on valid JSON: %v", spec, err)
		}
		if !json.Valid(got) {
			t.Fatalf("Apply(%q) = %s: not valid JSON", spec, got)
		}
		if len(got) > len(whole) {
			t.Fatalf("Apply(%q) grew the input: %s", spec, got)
		}
		twice, err := sel.Apply(got)
		if err != nil || !bytes.Equal(twice, got) {
			t.Fatalf("Apply(%q) is not idempotent: %s then %s (%v)", spec, got, twice, err)
		}
	})
}
