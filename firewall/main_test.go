package firewall

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the listeners and namespace threads of the tests
// are gone when they end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
