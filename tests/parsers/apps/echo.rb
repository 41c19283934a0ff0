# Echo app: Rack's request cookies (Rack::Request#cookies) under WEBrick.
# Prints what Rack reads for the cookie named in ?name=.
require 'json'
require 'rack'
require 'rack/handler/webrick'

app = lambda do |env|
  req = Rack::Request.new(env)
  name = req.GET['name']
  raw = env['HTTP_COOKIE']
  out = { type: 'missing', value: '', other: '', raw: raw ? raw.b.unpack1('H*') : '' }
  jar = req.cookies
  if jar.key?(name)
    v = jar[name]
    if v.is_a?(String)
      out[:type] = 'string'
      out[:value] = v.b.unpack1('H*')
    else
      out[:type] = 'other'
      out[:other] = v.inspect
    end
  end
  [200, { 'Content-Type' => 'application/json' }, [JSON.generate(out)]]
end

Rack::Handler::WEBrick.run(app, Host: '127.0.0.1', Port: Integer(ARGV[0]),
                           Logger: WEBrick::Log.new(File::NULL), AccessLog: [])
