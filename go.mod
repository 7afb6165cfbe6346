module webrtcgw

go 1.26.0

toolchain go1.26.10

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/google/go-cmp v0.7.0
	github.com/hashicorp/go-hclog v1.6.3
	github.com/pion/logging v0.2.4
	go.uber.org/goleak v1.3.0
	gopkg.in/ini.v1 v1.67.3
)

require (
	github.com/fatih/color v1.19.0 // indirect
	github.com/mattn/go-colorable v0.1.16 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
