// Package doccheck holds a test that walks the module and fails for every
// exported identifier that has no doc comment: the project's rule that
// every exported name says what it is.
//
// # Usage
//
//	go test ./internal/doccheck
//
// # Concurrency
//
// Not applicable: the package has no code outside its test.
//
// # Cancellation
//
// Not applicable.
package doccheck
