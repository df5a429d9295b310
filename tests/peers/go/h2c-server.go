// tracegap end-to-end test peer: an HTTP server that accepts HTTP/2 over cleartext by the
// HTTP/1.1 Upgrade (h2c) and by prior knowledge, with Go's golang.org/x/net/http2/h2c (Debian's
// golang-golang-x-net-dev). Every request is answered 200 with the traceparent it carried.
//
//	h2c-server -port P
//
// Prints "ready" on stdout once listening; exits 0 on SIGTERM. Built by the test with
// GO111MODULE=off GOPATH=/usr/share/gocode (tests/e2e/peers.py: build_go_peer).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1")
	flag.Parse()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s traceparent=%q\n", r.Proto, r.URL.Path, r.Header.Get("traceparent"))
	})
	srv := &http.Server{Handler: h2c.NewHandler(handler, &http2.Server{})}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go srv.Serve(ln)
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	srv.Shutdown(context.Background())
}
