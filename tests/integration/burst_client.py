"""A burst of N predict requests at once, each on its own connection, from its own process:
``python burst_client.py PORT HOST N`` prints the count of each answer's status as JSON.

It runs apart from pytest with the hard open-file limit: N client sockets plus the platform's N
accepted ones would not fit one process's limit on every machine."""

import asyncio
import collections
import json
import resource
import sys

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, host, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = b'{"instances": [[6.8, 2.8, 4.8, 1.4]]}'
request = (
    b"POST /v1/models/%s:predict HTTP/1.1\r\nHost: %s\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%s" % (host.split(".")[0].encode(), host.encode(), len(body), body)
)


async def one():
    for _ in range(50):  # a connect refused while the listen backlog is full is tried again
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.1)
    else:
        return "connect failed"
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return status
    except Exception as exc:
        return type(exc).__name__
    finally:
        writer.close()


async def main():
    results = await asyncio.gather(*(one() for _ in range(n)))
    print(json.dumps(collections.Counter(str(r) for r in results)))


asyncio.run(main())
