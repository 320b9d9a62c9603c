package main

import (
	"encoding"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/herald-ci/herald/internal/config"
)

// cmdConfig is `herald config print`: the configuration serve would run
// on, after ${VAR} expansion, *_file secrets, defaults and validation, as
// YAML. Secrets print as <secret> and webhook URLs as scheme://host/***
// (their MarshalYAML), so the output can be pasted into a bug report; it
// is therefore not a file herald can load back.
func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "print" {
		return usagef("config: want `herald config print [--config FILE]`")
	}
	fs := newFlags("config print", stderr)
	configPath := fs.String("config", "", "config file (default: the built-in config serve uses without one)")
	listen := fs.String("listen", "", "host:port, as serve's --listen would override it")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("config print: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	from := *configPath
	if from == "" {
		from = "the built-in config"
	}
	fmt.Fprintf(stdout, "# herald's effective configuration from %s: defaults filled in, secrets redacted.\n", from)
	return printConfig(stdout, cfg)
}

// printConfig writes c as YAML.
func printConfig(w io.Writer, c *config.Config) error {
	n, err := yamlNode(reflect.ValueOf(c))
	if err != nil {
		return fmt.Errorf("config print: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("config print: %w", err)
	}
	return enc.Close()
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	marshalerType = reflect.TypeFor[yaml.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// yamlNode renders v as the config file spells it: keys from the yaml tags
// in declaration order, omitempty and inline honoured, durations as "10s"
// (yaml.v3 would write nanoseconds), and every type with a MarshalYAML of
// its own (Secret, SecretURL) through it, so secrets come out redacted.
func yamlNode(v reflect.Value) (*yaml.Node, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: time.Duration(v.Int()).String()}, nil
	case v.Type().Implements(marshalerType):
		if v.IsZero() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ""}, nil // unset, not hidden
		}
		out, err := v.Interface().(yaml.Marshaler).MarshalYAML()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{}
		return n, n.Encode(out)
	case v.Kind() == reflect.Struct && v.Type().Implements(textType):
		n := &yaml.Node{}
		return n, n.Encode(v.Interface())
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			flags := strings.Split(opts, ",")
			fv := v.Field(i)
			if slices.Contains(flags, "omitempty") && fv.IsZero() {
				continue
			}
			child, err := yamlNode(fv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
			if slices.Contains(flags, "inline") {
				if child.Kind == yaml.MappingNode {
					n.Content = append(n.Content, child.Content...)
				}
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, child)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			kn, err := yamlNode(k)
			if err != nil {
				return nil, err
			}
			vn, err := yamlNode(v.MapIndex(k))
			if err != nil {
				return nil, fmt.Errorf("%v: %w", k, err)
			}
			n.Content = append(n.Content, kn, vn)
		}
		return n, nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			break // []byte: yaml.v3's own encoding
		}
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle // []
		}
		for i := range v.Len() {
			c, err := yamlNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	}
	n := &yaml.Node{}
	return n, n.Encode(v.Interface())
}
