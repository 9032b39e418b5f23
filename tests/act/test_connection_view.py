"""Azure's view of a connection, from the REST shape (tests/fakeazure/schema.py names):
an active-active gateway's tunnelConnectionStatus per tunnel; the shared key never kept."""

from s2s_agent.act.azure import ConnectionView


def test_connection_view_from_the_rest_shape():
    body = {
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/connections/cn",
        "name": "cn",
        "properties": {
            "connectionStatus": "Connected",
            "ingressBytesTransferred": 10,
            "egressBytesTransferred": 20,
            "connectionType": "IPsec",
            "connectionProtocol": "IKEv2",
            "provisioningState": "Succeeded",
            "sharedKey": "do-not-keep-me",
            "localNetworkGateway2": {"id": "/subscriptions/s/.../localNetworkGateways/lng"},
            "tunnelConnectionStatus": [
                {
                    "tunnel": "vng_20.1.2.3",
                    "connectionStatus": "Connected",
                    "ingressBytesTransferred": 4,
                    "egressBytesTransferred": 5,
                    "lastConnectionEstablishedUtcTime": "11/30/2026 6:59:00 AM",
                },
                {"tunnel": "vng_20.1.2.4", "connectionStatus": "NotConnected"},
            ],
        },
    }
    d = ConnectionView.from_json(body).as_dict()
    assert (d["status"], d["ingress_bytes"], d["egress_bytes"]) == ("Connected", 10, 20)
    assert d["tunnels"][0] == {
        "tunnel": "vng_20.1.2.3",
        "status": "Connected",
        "ingress_bytes": 4,
        "egress_bytes": 5,
        "last_established": "11/30/2026 6:59:00 AM",
    }
    assert d["tunnels"][1]["status"] == "NotConnected"
    assert "do-not-keep-me" not in repr(d)
    assert ConnectionView.from_json({"properties": {}}).as_dict()["tunnels"] == []
