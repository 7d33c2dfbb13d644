// Signs in to Parley with Java's built-in HttpClient at its defaults: on plain http:// it offers an HTTP/2
// upgrade (Connection: Upgrade, HTTP2-Settings; Upgrade: h2c) with every request, POSTs included.
// Usage: java JavaLogin.java http://127.0.0.1:8000 email password   -> prints the status, then the body.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class JavaLogin {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newHttpClient();
        String body = "{\"email\": \"" + args[1] + "\", \"password\": \"" + args[2] + "\"}";
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0] + "/api/v1/auth/login"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode());
        System.out.println(response.body());
    }
}
