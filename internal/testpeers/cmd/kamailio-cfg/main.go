// Command kamailio-cfg writes the Kamailio configuration of the test peers
// (a digest registrar and record-routing proxy on 127.0.0.1) for the local
// demo that `make run` starts, so that the demo and the tests share one
// configuration.
//
//	kamailio-cfg -port 5070 -users 1001:demo1001,1002:demo1002 > kamailio.cfg
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"webrtcgw/internal/testpeers"
)

func main() {
	port := flag.Int("port", 5070, "UDP and TCP port on 127.0.0.1")
	users := flag.String("users", "", "comma-separated user:password pairs")
	flag.Parse()
	cfg := testpeers.KamailioConfig{Users: map[string]string{}}
	for _, pair := range strings.Split(*users, ",") {
		if pair == "" {
			continue
		}
		user, password, ok := strings.Cut(pair, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "kamailio-cfg: %q is not user:password\n", pair)
			os.Exit(2)
		}
		cfg.Users[user] = password
	}
	out, err := cfg.Render(*port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kamailio-cfg: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
