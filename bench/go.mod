module github.com/lunarsan/lunar/bench

go 1.26

require (
	github.com/gostor/gotgt v0.2.2
	github.com/sirupsen/logrus v1.9.0
)

require (
	github.com/kr/pretty v0.3.0 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	github.com/satori/go.uuid v1.2.0 // indirect
	github.com/stretchr/testify v1.8.1 // indirect
	golang.org/x/sys v0.3.0 // indirect
	gopkg.in/check.v1 v1.0.0-20180628173108-788fd7840127 // indirect
)
