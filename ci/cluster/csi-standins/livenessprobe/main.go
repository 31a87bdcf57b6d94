// Command livenessprobe stands in, on the local test cluster only, for
// kubernetes-csi's livenessprobe, whose Go module the module proxy this
// project builds from does not serve. Like the real one it serves
// /healthz on --health-port and answers 200 only when the driver's Probe
// over its socket succeeds and does not say it is not ready. The chart's
// default is the real image.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	csiAddress := flag.String("csi-address", "/csi/csi.sock", "the driver's socket in this container")
	port := flag.Int("health-port", 9808, "TCP port of /healthz")
	timeout := flag.Duration("probe-timeout", time.Second, "bound on one Probe call")
	flag.Parse()
	conn, err := grpc.NewClient("unix://"+*csiAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	id := csi.NewIdentityClient(conn)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *timeout)
		defer cancel()
		resp, err := id.Probe(ctx, &csi.ProbeRequest{})
		if err == nil && resp.GetReady() != nil && !resp.GetReady().GetValue() {
			err = fmt.Errorf("driver says it is not ready")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	log.Fatal(http.ListenAndServe(fmt.Sprintf(":%d", *port), nil))
}
