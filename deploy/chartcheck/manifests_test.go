package chartcheck

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestManifests is case (d): the raw manifests of deploy/kubernetes, each
// directory one deployment, with the same checks as the chart.
func TestManifests(t *testing.T) {
	t.Run("sidecar", func(t *testing.T) {
		s := set(readManifests(t, "../kubernetes/sidecar"))
		cfgs := checkSet(t, s, nil)
		cfg := cfgs["teamcity"]
		if cfg == nil {
			t.Fatal("no herald config loaded for Deployment teamcity")
		}
		dep := deployment(t, s, "teamcity")
		pod := dep.Spec.Template.Spec
		if len(pod.Containers) != 2 || !slices.ContainsFunc(pod.Containers, func(c corev1.Container) bool {
			return c.Name == "teamcity-server" && strings.HasPrefix(c.Image, "jetbrains/teamcity-server:")
		}) {
			t.Errorf("want TeamCity (jetbrains/teamcity-server) and herald in one pod, got %d containers", len(pod.Containers))
		}
		// TeamCity posts to localhost:8080 with Basic auth: herald must
		// listen there and require it, and serve nothing else.
		if cfg.Listen != "0.0.0.0:8080" {
			t.Errorf("listen %s, want 0.0.0.0:8080", cfg.Listen)
		}
		tc := cfg.Sources["teamcity"]
		if tc.BasicAuth == nil || tc.BasicAuth.Username != "teamcity" || tc.BasicAuth.Password.Value() == "" {
			t.Errorf("teamcity source: want basic_auth for user teamcity with a password, got %+v", tc.BasicAuth)
		}
		if got := cfg.EnabledSources(); !slices.Equal(got, []string{"teamcity"}) {
			t.Errorf("sources served %v, want [teamcity]", got)
		}
		if *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("replicas %d strategy %s, want 1 Recreate", *dep.Spec.Replicas, dep.Spec.Strategy.Type)
		}
		// herald's port stays inside the pod: the Service exposes TeamCity only.
		svc, _ := s.find("Service", "teamcity")
		for _, p := range svc.value.(*corev1.Service).Spec.Ports {
			if p.TargetPort.StrVal == "herald" || p.Port == 8080 {
				t.Errorf("Service teamcity exposes herald's port: %+v", p)
			}
		}
		// Both ways of giving a webhook URL: ${ENV} from a Secret, and url_file.
		var fromEnv, fromFile bool
		for _, d := range cfg.Destinations {
			fromFile = fromFile || d.URLFile != ""
			fromEnv = fromEnv || (d.URLFile == "" && d.URL.Value() != "")
		}
		if !fromEnv || !fromFile {
			t.Errorf("want one destination from ${ENV} and one from url_file (env %v, file %v)", fromEnv, fromFile)
		}
	})
	t.Run("standalone", func(t *testing.T) {
		s := set(readManifests(t, "../kubernetes/standalone"))
		cfgs := checkSet(t, s, nil)
		cfg := cfgs["herald"]
		if cfg == nil {
			t.Fatal("no herald config loaded for Deployment herald")
		}
		for _, kind := range []string{"Deployment", "Service", "ServiceMonitor", "Secret", "ConfigMap"} {
			if len(s.ofKind(kind)) == 0 {
				t.Errorf("no %s", kind)
			}
		}
		dep := deployment(t, s, "herald")
		if *dep.Spec.Replicas < 2 || cfg.Store.Driver != "postgres" {
			t.Errorf("%d replicas on %s, want several on postgres", *dep.Spec.Replicas, cfg.Store.Driver)
		}
		if got := cfg.EnabledSources(); len(got) != 3 {
			t.Errorf("sources served %v, want all three, authenticated", got)
		}
	})
}
