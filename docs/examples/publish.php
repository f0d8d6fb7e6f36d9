<?php
// Publish one event to wampd over HTTP from PHP (no extension needed beyond the standard streams).
// WAMPD_URL: the router's base URL (default http://127.0.0.1:8080); WAMPD_SECRET: WEBSOCKET_PUBLISH_SECRET, if set.
$url = getenv('WAMPD_URL') ?: 'http://127.0.0.1:8080';
$secret = getenv('WAMPD_SECRET') ?: '';

$body = json_encode([
    'topic' => 'com.example.notifications',
    'args' => ['Invoice 1001 paid'],
    'kwargs' => ['level' => 'info'],
]);
$headers = "Content-Type: application/json\r\n";
if ($secret !== '') {
    $headers .= "Authorization: Bearer {$secret}\r\n";
}
$context = stream_context_create(['http' => [
    'method' => 'POST',
    'header' => $headers,
    'content' => $body,
    'ignore_errors' => true,
    'timeout' => 5,
]]);
$response = file_get_contents("{$url}/publish", false, $context);
$status = isset($http_response_header[0]) ? (int) explode(' ', $http_response_header[0])[1] : 0;
if ($response === false || $status !== 200) {
    fwrite(STDERR, "publish failed ({$status}): {$response}\n");
    exit(1);
}
echo $response, "\n";
