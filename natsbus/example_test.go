package natsbus_test

import (
	"log"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/natsbus"
)

// A node joins the fleet's purge bus once, through a gateway.LocalBus that
// fans the purges out to its own handlers.
func Example() {
	bus, err := natsbus.New(natsbus.Options{URL: "nats://nats-1:4222,nats://nats-2:4222"})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	local := gateway.NewLocalBus(bus) // pass local as the handlers' Bus
	defer local.Close()

	publish, leave := local.Join(func(p gateway.Purge) { log.Printf("purge from another node: %v", p.Tags) },
		func() { log.Print("purges may have been missed") })
	defer leave()
	publish(gateway.Purge{Tags: []string{"book:42"}})
}
