package crd

import (
	"reflect"
	"strconv"

	"gopkg.in/yaml.v3"
)

// meta is Kubernetes' ObjectMeta. Only name and namespace are used; the
// fields the API server fills in are accepted so that a file exported with
// `kubectl get -o yaml` loads, and ignored.
type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`

	GenerateName               yaml.Node `yaml:"generateName"`
	UID                        yaml.Node `yaml:"uid"`
	ResourceVersion            yaml.Node `yaml:"resourceVersion"`
	Generation                 yaml.Node `yaml:"generation"`
	CreationTimestamp          yaml.Node `yaml:"creationTimestamp"`
	DeletionTimestamp          yaml.Node `yaml:"deletionTimestamp"`
	DeletionGracePeriodSeconds yaml.Node `yaml:"deletionGracePeriodSeconds"`
	SelfLink                   yaml.Node `yaml:"selfLink"`
	OwnerReferences            yaml.Node `yaml:"ownerReferences"`
	Finalizers                 yaml.Node `yaml:"finalizers"`
	ManagedFields              yaml.Node `yaml:"managedFields"`
}

type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

type modelDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		Protocol string `yaml:"protocol"`
		// ProtocolConfigData (KubeEdge v1.22) is the devices' default
		// spec.protocol.configData; see mergeModel.
		ProtocolConfigData configData `yaml:"protocolConfigData"`
		Properties         []struct {
			Name        string `yaml:"name"`
			Description string `yaml:"description"`
			Type        string `yaml:"type"`
			AccessMode  string `yaml:"accessMode"`
			Minimum     string `yaml:"minimum"`
			Maximum     string `yaml:"maximum"`
			Unit        string `yaml:"unit"`
			// Visitors (KubeEdge v1.22) are the devices' default visitors
			// of this property; see mergeModel.
			Visitors *visitors `yaml:"visitors"`
		} `yaml:"properties"`
	} `yaml:"spec"`
	Status yaml.Node `yaml:"status"` // written by the API server; ignored
}

type configData map[string]any

// visitors is a property's visitors, in a Device or (v1.22) a DeviceModel.
type visitors struct {
	ProtocolName string     `yaml:"protocolName"`
	ConfigData   configData `yaml:"configData"`
}

// UnmarshalYAML reads a configData map with its plain scalars resolved as
// kubectl resolves them (see yaml11).
func (c *configData) UnmarshalYAML(n *yaml.Node) error {
	yaml11(n)
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return err
	}
	*c = m
	return nil
}

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans: go-yaml v2's
// resolve table, which sigs.k8s.io/yaml (kubectl, the API server) uses.
// YAML 1.2 (gopkg.in/yaml.v3) reads only the true and false spellings so.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
	"true": true, "True": true, "TRUE": true,
	"on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false,
	"false": false, "False": false, "FALSE": false,
	"off": false, "Off": false, "OFF": false,
}

// yaml11 retags the plain (untagged, unquoted) scalars under n, keys and
// values, the way sigs.k8s.io/yaml reads them where yaml.v3 would differ:
// the YAML 1.1 booleans become booleans, and a date or time stays a string
// (kubectl passes it on as written; yaml.v3 would make it a time.Time).
func yaml11(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode, yaml.MappingNode:
		for _, c := range n.Content {
			yaml11(c)
		}
	case yaml.ScalarNode:
		if n.Style != 0 {
			return // quoted, tagged or a block scalar: as written
		}
		if b, ok := yaml11Bools[n.Value]; ok {
			n.Tag, n.Value = "!!bool", strconv.FormatBool(b)
		} else if n.ShortTag() == "!!timestamp" {
			n.Tag = "!!str"
		}
	}
}

type deviceDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		DeviceModelRef struct {
			Name string `yaml:"name"`
		} `yaml:"deviceModelRef"`
		NodeName string `yaml:"nodeName"`
		Protocol struct {
			ProtocolName string     `yaml:"protocolName"`
			ConfigData   configData `yaml:"configData"`
		} `yaml:"protocol"`
		Properties []struct {
			Name    string `yaml:"name"`
			Desired struct {
				Value    string            `yaml:"value"`
				Metadata map[string]string `yaml:"metadata"`
			} `yaml:"desired"`
			Visitors      visitors       `yaml:"visitors"`
			ReportCycle   int64          `yaml:"reportCycle"`
			CollectCycle  int64          `yaml:"collectCycle"`
			ReportToCloud bool           `yaml:"reportToCloud"`
			PushMethod    *PushMethodDoc `yaml:"pushMethod"`
		} `yaml:"properties"`
		Methods []struct {
			Name          string   `yaml:"name"`
			Description   string   `yaml:"description"`
			PropertyNames []string `yaml:"propertyNames"`
		} `yaml:"methods"`
		// StateReport (KubeEdge v1.23) says whether and how often the
		// device's state is reported.
		StateReport *struct {
			ReportToCloud bool  `yaml:"reportToCloud"`
			ReportCycle   int64 `yaml:"reportCycle"`
		} `yaml:"stateReport"`
	} `yaml:"spec"`
	Status yaml.Node `yaml:"status"` // written by EdgeCore; ignored
}

// docTypes are the types the documents are read into, for yamlkeys.Check.
var docTypes = map[string]reflect.Type{"Device": reflect.TypeFor[deviceDoc](), "DeviceModel": reflect.TypeFor[modelDoc]()}
