module github.com/qsmp-go/qsmp/bench

go 1.26.0

require (
	github.com/pion/dtls/v3 v3.1.15
	github.com/qsmp-go/qsmp v0.0.0
	github.com/quic-go/quic-go v0.65.0
	golang.org/x/crypto v0.59.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/cloudflare/circl v1.6.5 // indirect
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/transport/v5 v5.0.0 // indirect
)

replace github.com/qsmp-go/qsmp => ../
