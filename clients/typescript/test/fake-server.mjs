// A scripted HTTP server on 127.0.0.1 that records every request (RunPod's cloud, or a broken endpoint).
import { createServer } from "node:http";

/** Start a server whose `handler(request)` returns `{status, body?, headers?}`, or null to never answer. */
export async function startFakeServer(handler) {
  const requests = [];
  const hanging = new Set();
  const server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", async () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const record = {
        method: request.method,
        path: request.url,
        headers: request.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(record);
      const answer = await handler(record);
      if (answer === null) {
        hanging.add(response);
        return;
      }
      const payload = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body ?? "");
      response.writeHead(answer.status ?? 200, {
        "Content-Type": typeof answer.body === "string" ? "text/plain" : "application/json",
        ...answer.headers,
      });
      response.end(answer.body === undefined ? "" : payload);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const response of hanging) {
        response.destroy();
      }
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on. */
export async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
