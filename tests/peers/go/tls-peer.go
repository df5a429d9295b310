// tracegap end-to-end test peer: a Go HTTPS server and client in one process (Go's crypto/tls,
// compiled in: no libssl), built with Debian's Go.
//
//	tls-peer -cert CERT -key KEY [-warmup W -pause SECONDS] -n N [-missing M] -hold SECONDS
//
// Serves HTTPS on a free loopback port; makes W requests to itself, prints "warm", waits -pause
// seconds; then makes N requests with a valid traceparent and M without one (one connection
// each), prints "done PORT", and stays up for -hold seconds so that the process can be looked at.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	cert := flag.String("cert", "", "certificate (PEM)")
	key := flag.String("key", "", "private key (PEM)")
	n := flag.Int("n", 3, "requests")
	hold := flag.Int("hold", 5, "seconds to stay up after the requests")
	warmup := flag.Int("warmup", 0, "requests before the pause")
	pause := flag.Int("pause", 0, "seconds between the warm-up and the requests")
	missing := flag.Int("missing", 0, "requests without a traceparent, after the N with one")
	flag.Parse()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})}
	go srv.ServeTLS(ln, *cert, *key)
	port := ln.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("https://127.0.0.1:%d/", port)
	get := func(context bool) {
		c := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
		}}
		req, _ := http.NewRequest("GET", url, nil)
		if context {
			req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		}
		r, err := c.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	if *warmup > 0 {
		for i := 0; i < *warmup; i++ {
			get(true)
		}
		fmt.Println("warm")
		time.Sleep(time.Duration(*pause) * time.Second)
	}
	for i := 0; i < *n; i++ {
		get(true)
	}
	for i := 0; i < *missing; i++ {
		get(false)
	}
	fmt.Printf("done %d\n", port)
	time.Sleep(time.Duration(*hold) * time.Second)
}
