// wampd demo page: subscribes to the demo topics with autobahn-browser and shows events live.
// Everything from the network is written with textContent, never as HTML.
(function () {
  'use strict';
  var root = document.getElementById('wampd-demo');
  var status = document.getElementById('status');
  var clock = document.getElementById('time');
  var list = document.getElementById('notifications');
  var realm = root.getAttribute('data-realm') || 'realm1';

  // The WebSocket lives where the page is: served at /ws/ behind nginx's "location /ws", the
  // socket is wss://host/ws; served by wampd itself at /, it is ws://host:port/.
  var dir = location.pathname.replace(/[^\/]*$/, '');
  var path = dir.length > 1 ? dir.replace(/\/$/, '') : '/';
  var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;

  function setStatus(state, text) {
    status.setAttribute('data-state', state);
    status.textContent = text;
  }

  function describe(args, kwargs) {
    args = args || [];
    kwargs = kwargs || {};
    if (args.length === 1 && typeof args[0] === 'string' && Object.keys(kwargs).length === 0) {
      return args[0];
    }
    return JSON.stringify(Object.keys(kwargs).length ? { args: args, kwargs: kwargs } : args);
  }

  if (typeof autobahn === 'undefined') {
    setStatus('closed', 'autobahn-browser did not load (see WEBSOCKET_DEMO_AUTOBAHN_URL)');
    return;
  }

  var connection = new autobahn.Connection({ url: url, realm: realm, max_retry_delay: 5 });
  connection.onopen = function (session) {
    setStatus('subscribing', 'connected to ' + url + '; subscribing');
    var time = session.subscribe('wampd.demo.time', function (args) {
      clock.textContent = String((args || [])[0]);
    });
    var notifications = session.subscribe('wampd.demo.notifications', function (args, kwargs) {
      var item = document.createElement('li');
      item.textContent = new Date().toLocaleTimeString() + '  ' + describe(args, kwargs);
      list.insertBefore(item, list.firstChild);
      while (list.children.length > 50) {
        list.removeChild(list.lastChild);
      }
    });
    Promise.all([time, notifications]).then(function () {
      setStatus('connected', 'connected to ' + url + ', realm ' + realm + ', session ' + session.id);
    }, function (err) {
      setStatus('closed', 'subscribing failed: ' + (err && err.error ? err.error : String(err)));
    });
  };
  connection.onclose = function (reason) {
    setStatus('closed', 'disconnected (' + reason + '); retrying');
  };
  connection.open();
}());
